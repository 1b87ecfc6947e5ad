namespace Archestra.Gateway.Storage.Sqlite;

/// <summary>The SQLite schema: the PostgreSQL tables in SQLite types. Shipped versions are append only.</summary>
internal static class SqliteSchema
{
    public const string CreateSchemaTable = """
        CREATE TABLE IF NOT EXISTS archestra_schema (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );
        """;

    public static readonly Migration[] All =
    [
        new(1, "resources", """
            -- Same tables as PostgreSQL. uuid: 16-byte BLOB in RFC 4122 (big-endian) byte order so ids sort as in
            -- PostgreSQL; timestamps: INTEGER microseconds since the Unix epoch (UTC); money: INTEGER units of 1e-10 USD
            -- (PostgreSQL numeric(20,10)), so sums stay exact; booleans: 0/1; JSON: TEXT.
            -- Every resource row: managed_by says whether the config file or the admin API owns it
            -- (file-managed rows are read-only through the API).
            CREATE TABLE profiles (
                id          BLOB PRIMARY KEY,
                name        TEXT NOT NULL UNIQUE,
                description TEXT,
                settings    TEXT NOT NULL DEFAULT '{}',
                managed_by  TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE mcp_servers (
                id         BLOB PRIMARY KEY,
                name       TEXT NOT NULL UNIQUE,
                transport  TEXT NOT NULL CHECK (transport IN ('stdio', 'http', 'sse')),
                runtime    TEXT NOT NULL DEFAULT 'local' CHECK (runtime IN ('local', 'remote', 'kubernetes')),
                -- command/args/env or url/headers exactly as in the file; secrets only as "env:NAME" references.
                config     TEXT NOT NULL,
                enabled    INTEGER NOT NULL DEFAULT 1,
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE profile_servers (
                profile_id BLOB NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
                server_id  BLOB NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                PRIMARY KEY (profile_id, server_id)
            );
            CREATE INDEX profile_servers_server ON profile_servers (server_id);

            CREATE TABLE discovered_tools (
                server_id    BLOB NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                name         TEXT NOT NULL,
                description  TEXT,
                input_schema TEXT NOT NULL DEFAULT '{}',
                first_seen   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                last_seen    INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                PRIMARY KEY (server_id, name)
            );

            CREATE TABLE tool_settings (
                server_id                  BLOB NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                tool_name                  TEXT NOT NULL,
                allow_usage_when_untrusted INTEGER NOT NULL DEFAULT 0,
                result_treatment           TEXT NOT NULL DEFAULT 'untrusted'
                    CHECK (result_treatment IN ('trusted', 'untrusted', 'sanitize_with_dual_llm')),
                managed_by                 TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at                 INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at                 INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                PRIMARY KEY (server_id, tool_name)
            );

            CREATE TABLE policies (
                id         BLOB PRIMARY KEY,
                kind       TEXT NOT NULL CHECK (kind IN ('tool_invocation', 'trusted_data')),
                -- "server__tool" or a pattern the policy compiler understands.
                tool       TEXT NOT NULL,
                -- JSON array of profile names; empty means every profile.
                profiles   TEXT NOT NULL DEFAULT '[]',
                conditions TEXT NOT NULL DEFAULT '[]',
                action     TEXT NOT NULL,
                reason     TEXT,
                priority   INTEGER NOT NULL DEFAULT 0,
                enabled    INTEGER NOT NULL DEFAULT 1,
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );
            CREATE INDEX policies_tool ON policies (kind, tool);

            -- Tokens and keys: only SHA-256 hashes are stored; the secret is shown once at creation.
            CREATE TABLE gateway_tokens (
                id           BLOB PRIMARY KEY,
                name         TEXT NOT NULL,
                token_hash   BLOB NOT NULL UNIQUE,
                profile_id   BLOB REFERENCES profiles (id) ON DELETE CASCADE,
                expires_at   INTEGER,
                revoked_at   INTEGER,
                last_used_at INTEGER,
                managed_by   TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE admin_keys (
                id           BLOB PRIMARY KEY,
                name         TEXT NOT NULL,
                key_hash     BLOB NOT NULL UNIQUE,
                scope        TEXT NOT NULL CHECK (scope IN ('read-only', 'read-write')),
                revoked_at   INTEGER,
                last_used_at INTEGER,
                managed_by   TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE llm_providers (
                id         BLOB PRIMARY KEY,
                name       TEXT NOT NULL UNIQUE,
                kind       TEXT NOT NULL,
                base_url   TEXT,
                settings   TEXT NOT NULL DEFAULT '{}',
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            -- AES-256-GCM under ARCHESTRA_SECRET_KEY; key_id names the key so keys can rotate.
            CREATE TABLE llm_provider_keys (
                id           BLOB PRIMARY KEY,
                provider_id  BLOB NOT NULL REFERENCES llm_providers (id) ON DELETE CASCADE,
                name         TEXT NOT NULL,
                ciphertext   BLOB NOT NULL,
                nonce        BLOB NOT NULL,
                key_id       TEXT NOT NULL,
                last_used_at INTEGER,
                managed_by   TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                UNIQUE (provider_id, name)
            );

            -- US dollars per million tokens.
            CREATE TABLE token_prices (
                model                    TEXT PRIMARY KEY,
                provider                 TEXT,
                input_per_million        INTEGER NOT NULL,
                output_per_million       INTEGER NOT NULL,
                cached_input_per_million INTEGER,
                managed_by               TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at               INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at               INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE limits (
                id         BLOB PRIMARY KEY,
                -- what the limit applies to: a profile, a model, a provider, or the whole organization
                scope      TEXT NOT NULL CHECK (scope IN ('organization', 'profile', 'model', 'provider')),
                target     TEXT,
                kind       TEXT NOT NULL CHECK (kind IN ('tokens', 'cost', 'requests')),
                period     TEXT NOT NULL CHECK (period IN ('hour', 'day', 'week', 'month')),
                amount     INTEGER NOT NULL,
                action     TEXT NOT NULL DEFAULT 'block' CHECK (action IN ('block', 'warn')),
                enabled    INTEGER NOT NULL DEFAULT 1,
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE optimization_rules (
                id           BLOB PRIMARY KEY,
                name         TEXT NOT NULL,
                profiles     TEXT NOT NULL DEFAULT '[]',
                conditions   TEXT NOT NULL DEFAULT '[]',
                target_model TEXT NOT NULL,
                priority     INTEGER NOT NULL DEFAULT 0,
                enabled      INTEGER NOT NULL DEFAULT 1,
                managed_by   TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );

            CREATE TABLE admin_changes (
                id            BLOB PRIMARY KEY,
                time          INTEGER NOT NULL,
                actor         TEXT NOT NULL,
                action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
                resource_kind TEXT NOT NULL,
                resource_id   TEXT NOT NULL,
                details       TEXT NOT NULL DEFAULT '{}'
            );
            CREATE INDEX admin_changes_time ON admin_changes (time, id);
            CREATE INDEX admin_changes_resource ON admin_changes (resource_kind, resource_id, time);
            """),
        new(2, "audit", """
            -- Audit rows: the primary key (time, id) is both the time-range/pagination index and the idempotence key
            -- (a replay carries the same time and UUIDv7 id). Measured on this 2-core machine, each extra btree costs
            -- ~25% of write throughput, so filters get only the indexes that pay: profile (the usual scope of a view)
            -- and partial ones on the rare non-ok outcomes; server/tool filters walk the time-ordered key.
            CREATE TABLE mcp_tool_calls (
                id             BLOB NOT NULL,
                time           INTEGER NOT NULL,
                profile        TEXT NOT NULL,
                session_id     TEXT,
                server         TEXT NOT NULL,
                tool           TEXT NOT NULL,
                decision       TEXT NOT NULL,
                policy_id      TEXT,
                outcome        TEXT NOT NULL,
                duration_us    INTEGER NOT NULL,
                request_bytes  INTEGER NOT NULL,
                response_bytes INTEGER NOT NULL,
                error          TEXT,
                arguments      TEXT,
                PRIMARY KEY (time, id)
            );
            CREATE INDEX mcp_tool_calls_profile ON mcp_tool_calls (profile, time);
            CREATE INDEX mcp_tool_calls_not_ok ON mcp_tool_calls (outcome, time) WHERE outcome <> 'ok';

            CREATE TABLE llm_interactions (
                id                  BLOB NOT NULL,
                time                INTEGER NOT NULL,
                profile             TEXT NOT NULL,
                provider            TEXT NOT NULL,
                requested_model     TEXT NOT NULL,
                used_model          TEXT,
                input_tokens        INTEGER NOT NULL,
                output_tokens       INTEGER NOT NULL,
                cached_input_tokens INTEGER NOT NULL,
                reasoning_tokens    INTEGER NOT NULL,
                cost                INTEGER NOT NULL,
                duration_us         INTEGER NOT NULL,
                ttft_us             INTEGER,
                status              TEXT NOT NULL,
                blocked_tools       TEXT,
                error               TEXT,
                PRIMARY KEY (time, id)
            );
            CREATE INDEX llm_interactions_profile ON llm_interactions (profile, time);
            CREATE INDEX llm_interactions_model ON llm_interactions (requested_model, time);
            CREATE INDEX llm_interactions_not_ok ON llm_interactions (status, time) WHERE status <> 'ok';
            """),
        new(3, "llm-limits-total", """
            -- Admin API limits may run over the whole lifetime ("total"), not only a calendar period. SQLite cannot
            -- alter a CHECK constraint: the table is rebuilt with the rows copied (nothing references it).
            CREATE TABLE limits_v3 (
                id         BLOB PRIMARY KEY,
                scope      TEXT NOT NULL CHECK (scope IN ('organization', 'profile', 'model', 'provider')),
                target     TEXT,
                kind       TEXT NOT NULL CHECK (kind IN ('tokens', 'cost', 'requests')),
                period     TEXT NOT NULL CHECK (period IN ('hour', 'day', 'week', 'month', 'total')),
                amount     INTEGER NOT NULL,
                action     TEXT NOT NULL DEFAULT 'block' CHECK (action IN ('block', 'warn')),
                enabled    INTEGER NOT NULL DEFAULT 1,
                managed_by TEXT NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
                updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            );
            INSERT INTO limits_v3 (id, scope, target, kind, period, amount, action, enabled, managed_by, created_at, updated_at)
                SELECT id, scope, target, kind, period, amount, action, enabled, managed_by, created_at, updated_at FROM limits;
            DROP TABLE limits;
            ALTER TABLE limits_v3 RENAME TO limits;
            """),
        new(4, "discovered-tools-by-server-name", """
            -- Tools are discovered from every server, including the file's, which have no mcp_servers row: key them by
            -- the server's name. The old table was never written.
            DROP TABLE discovered_tools;
            CREATE TABLE discovered_tools (
                server       TEXT NOT NULL,
                name         TEXT NOT NULL,
                description  TEXT,
                input_schema TEXT NOT NULL,
                first_seen   INTEGER NOT NULL,
                last_seen    INTEGER NOT NULL,
                PRIMARY KEY (server, name)
            );
            """),
        new(5, "llm-cost-nullable", """
            -- An interaction with a model the price table does not know has no cost (NULL), never a wrong 0. SQLite
            -- cannot drop NOT NULL: the table is rebuilt with its rows and indexes (nothing references it).
            CREATE TABLE llm_interactions_v5 (
                id                  BLOB NOT NULL,
                time                INTEGER NOT NULL,
                profile             TEXT NOT NULL,
                provider            TEXT NOT NULL,
                requested_model     TEXT NOT NULL,
                used_model          TEXT,
                input_tokens        INTEGER NOT NULL,
                output_tokens       INTEGER NOT NULL,
                cached_input_tokens INTEGER NOT NULL,
                reasoning_tokens    INTEGER NOT NULL,
                cost                INTEGER,
                duration_us         INTEGER NOT NULL,
                ttft_us             INTEGER,
                status              TEXT NOT NULL,
                blocked_tools       TEXT,
                error               TEXT,
                PRIMARY KEY (time, id)
            );
            INSERT INTO llm_interactions_v5 SELECT id, time, profile, provider, requested_model, used_model, input_tokens, output_tokens,
                cached_input_tokens, reasoning_tokens, cost, duration_us, ttft_us, status, blocked_tools, error FROM llm_interactions;
            DROP TABLE llm_interactions;
            ALTER TABLE llm_interactions_v5 RENAME TO llm_interactions;
            CREATE INDEX llm_interactions_profile ON llm_interactions (profile, time);
            CREATE INDEX llm_interactions_model ON llm_interactions (requested_model, time);
            CREATE INDEX llm_interactions_not_ok ON llm_interactions (status, time) WHERE status <> 'ok';
            """),
    ];
}
