// The schema of the node's SQLite file as an ordered list of migrations.
// PRAGMA user_version holds how many have been applied; SqliteDatabase::Open
// applies the missing ones in one transaction.
#pragma once

#include <string_view>
#include <vector>

namespace tongban::node {

// Oldest first: entry i moves the file from version i to version i + 1.
// Append an entry to change the schema; never edit one that has shipped.
const std::vector<std::string_view>& NodeSchemaMigrations();

}  // namespace tongban::node
