#include "fhir/json.hpp"

#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <new>

namespace carnet::fhir {

Result<boost::json::value> ParseJson(std::string_view text, int max_depth) {
    boost::json::parse_options options;
    options.max_depth = max_depth > 0 ? static_cast<std::size_t>(max_depth) : 1;
    boost::system::error_code ec;
    boost::json::value value;
    try {
        value = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec,
                                   boost::json::storage_ptr(), options);
    } catch (const std::bad_alloc&) {
        throw;  // out of memory is not an input error
    } catch (const std::exception& e) {
        // parse() reports through ec; this guards against a throwing allocator path.
        Error err = Error::Invalid("the body is not valid JSON");
        err.detail = e.what();
        return err;
    }
    if (ec == boost::json::error::too_deep) {
        Error err = Error::Invalid("JSON nesting is deeper than the allowed limit");
        err.detail = "json depth limit " + std::to_string(max_depth);
        return err;
    }
    if (ec) {
        // ec.message() names the syntax rule (e.g. "syntax error"), never the input text.
        Error err = Error::Invalid("the body is not valid JSON: " + ec.message());
        err.detail = ec.what();
        return err;
    }
    return value;
}

}  // namespace carnet::fhir
