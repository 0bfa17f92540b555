#pragma once
/// Engine-neutral SQL pieces shared by the SQLite and PostgreSQL engines: the schema
/// migrations and the compilation of a SearchQuery into one parameterised statement.
/// Placeholders are written `?`; the PostgreSQL engine renumbers them to `$n`.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/result.hpp"
#include "store/store.hpp"

namespace carnet::store {

enum class Dialect { kSqlite, kPostgres };

using SqlValue = Value;  // store.hpp

struct SqlStatement {
    std::string sql;
    std::vector<SqlValue> params;
};

struct Migration {
    int version;
    const char* name;
    std::vector<std::string> statements;
};

/// The ordered schema migrations for an engine.
const std::vector<Migration>& Migrations(Dialect dialect);

/// Columns selected by search/read statements, in this order:
/// rid, patient_id, type, id, version, last_updated, deleted, body, sort_value.
SqlStatement CompileSearch(const SearchQuery& query, Dialect dialect);
/// SELECT COUNT(*) with the same filters (no paging).
SqlStatement CompileCount(const SearchQuery& query, Dialect dialect);

/// Paging cursor: the sort value and row id of the last row of the previous page.
struct Cursor {
    int64_t sort_value = 0;
    int64_t rid = 0;
};
std::string EncodeCursor(const Cursor& cursor);
/// kInvalid when the text is not a cursor this server produced.
Result<Cursor> DecodeCursor(const std::string& text);

/// Associated data binding a sealed body to its row.
std::string BodyAad(const std::string& patient_id, const std::string& type, const std::string& id,
                    int64_t version);

}  // namespace carnet::store
