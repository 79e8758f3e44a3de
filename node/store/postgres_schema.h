// The schema of the node's PostgreSQL database as an ordered list of
// migrations (SQL text). The table schema_migrations records the versions
// applied; PostgresDatabase::Open applies the missing ones. The SQL keeps to
// what PostgreSQL-compatible databases share (docs/postgresql.md).
#pragma once

#include <string_view>
#include <vector>

namespace tongban::node {

// Oldest first: entry i moves the database from version i to version i + 1.
// Append an entry to change the schema; never edit one that has shipped.
const std::vector<std::string_view>& PostgresSchemaMigrations();

}  // namespace tongban::node
