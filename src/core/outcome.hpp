#pragma once
/// The answer of a deciding transaction job: a value, or a refusal that is returned only once
/// the transaction (and the refusal's log entry) committed. Used by the services that write
/// their access-log entries in the job that decides (access, messaging).
#include <optional>
#include <utility>

#include "core/result.hpp"

namespace carnet {

template <typename T>
struct Outcome {
    std::optional<T> value;
    std::optional<Error> refusal;
    /// At the start of each run of the job (a store may run it again).
    void Reset() {
        value.reset();
        refusal.reset();
    }
    /// After the job: its error, else the refusal, else the value.
    Result<T> Finish(const Status& committed) {
        if (!committed.ok()) return committed.error();
        if (refusal) return std::move(*refusal);
        if (!value) return Error::Internal("the transaction gave no answer");
        return std::move(*value);
    }
};

}  // namespace carnet
