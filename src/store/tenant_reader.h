// Internal to the store: Store::tenant() for a backend without row-level security (SQLite). A
// decorator over any Reader that keeps only one org's rows, by the ownership rules of the
// PostgreSQL policies (postgres/migrate.cc, "Tenant isolation"), so both backends answer a tenant
// the same.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

namespace warden::store {

// A reader over `base` (which must outlive it) that sees only the rows of org `org_id`:
// - agents whose org is org_id; the org's own row and admin keys;
// - rows of those agents: sessions, transactions, api keys, agent policies, audit rows with an
//   agent, usage events; credit lots, entries, holds and payments by owner; approvals through
//   their transaction;
// - nothing else: agents without an org, global policies, automations and their executions,
//   events, inventory, models, key-value rows, signing keys, outbox, ledger operations, webhook
//   events. Meter usage is not a tenant's either: PostgreSQL names its meters and agents through
//   usage_names, which only the daemon's context reads, so a tenant sees none there, nor here.
// Filtering happens after reading, so a paged list reads base pages until it has `limit` of the
// org's rows or the base runs out: the page is the one a base holding only the org's rows would
// answer (same cursor, same order, same size), at the cost of reading past other orgs' rows.
// Thread-safe as `base` is: nothing is kept between calls.
std::unique_ptr<Reader> make_tenant_reader(Reader& base, std::string org_id);

}  // namespace warden::store
