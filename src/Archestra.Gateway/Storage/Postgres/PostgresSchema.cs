namespace Archestra.Gateway.Storage.Postgres;

/// <summary>The PostgreSQL schema, one migration per version. Shipped versions are append only.</summary>
internal static class PostgresSchema
{
    /// <summary>pg_advisory_lock key that serializes migrations across replicas: "ARCHESTRA" folded into 63 bits.</summary>
    public const long MigrationLockKey = 0x4152_4348_4553_5452;

    public const string CreateSchemaTable = """
        CREATE TABLE IF NOT EXISTS archestra_schema (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """;

    public static readonly Migration[] All =
    [
        new(1, "resources", """
            -- Every resource row: managed_by says whether the config file or the admin API owns it
            -- (file-managed rows are read-only through the API).
            CREATE TABLE profiles (
                id          uuid PRIMARY KEY,
                name        text NOT NULL UNIQUE,
                description text,
                settings    jsonb NOT NULL DEFAULT '{}',
                managed_by  text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at  timestamptz NOT NULL DEFAULT now(),
                updated_at  timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE mcp_servers (
                id         uuid PRIMARY KEY,
                name       text NOT NULL UNIQUE,
                transport  text NOT NULL CHECK (transport IN ('stdio', 'http', 'sse')),
                runtime    text NOT NULL DEFAULT 'local' CHECK (runtime IN ('local', 'remote', 'kubernetes')),
                -- command/args/env or url/headers exactly as in the file; secrets only as "env:NAME" references.
                config     jsonb NOT NULL,
                enabled    boolean NOT NULL DEFAULT true,
                managed_by text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE profile_servers (
                profile_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
                server_id  uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                managed_by text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (profile_id, server_id)
            );
            CREATE INDEX profile_servers_server ON profile_servers (server_id);

            CREATE TABLE discovered_tools (
                server_id    uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                name         text NOT NULL,
                description  text,
                input_schema jsonb NOT NULL DEFAULT '{}',
                first_seen   timestamptz NOT NULL DEFAULT now(),
                last_seen    timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (server_id, name)
            );

            CREATE TABLE tool_settings (
                server_id                  uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                tool_name                  text NOT NULL,
                allow_usage_when_untrusted boolean NOT NULL DEFAULT false,
                result_treatment           text NOT NULL DEFAULT 'untrusted'
                    CHECK (result_treatment IN ('trusted', 'untrusted', 'sanitize_with_dual_llm')),
                managed_by                 text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at                 timestamptz NOT NULL DEFAULT now(),
                updated_at                 timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (server_id, tool_name)
            );

            CREATE TABLE policies (
                id         uuid PRIMARY KEY,
                kind       text NOT NULL CHECK (kind IN ('tool_invocation', 'trusted_data')),
                -- "server__tool" or a pattern the policy compiler understands.
                tool       text NOT NULL,
                -- JSON array of profile names; empty means every profile.
                profiles   jsonb NOT NULL DEFAULT '[]',
                conditions jsonb NOT NULL DEFAULT '[]',
                action     text NOT NULL,
                reason     text,
                priority   integer NOT NULL DEFAULT 0,
                enabled    boolean NOT NULL DEFAULT true,
                managed_by text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX policies_tool ON policies (kind, tool);

            -- Tokens and keys: only SHA-256 hashes are stored; the secret is shown once at creation.
            CREATE TABLE gateway_tokens (
                id           uuid PRIMARY KEY,
                name         text NOT NULL,
                token_hash   bytea NOT NULL UNIQUE,
                profile_id   uuid REFERENCES profiles (id) ON DELETE CASCADE,
                expires_at   timestamptz,
                revoked_at   timestamptz,
                last_used_at timestamptz,
                managed_by   text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   timestamptz NOT NULL DEFAULT now(),
                updated_at   timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE admin_keys (
                id           uuid PRIMARY KEY,
                name         text NOT NULL,
                key_hash     bytea NOT NULL UNIQUE,
                scope        text NOT NULL CHECK (scope IN ('read-only', 'read-write')),
                revoked_at   timestamptz,
                last_used_at timestamptz,
                managed_by   text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   timestamptz NOT NULL DEFAULT now(),
                updated_at   timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE llm_providers (
                id         uuid PRIMARY KEY,
                name       text NOT NULL UNIQUE,
                kind       text NOT NULL,
                base_url   text,
                settings   jsonb NOT NULL DEFAULT '{}',
                managed_by text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );

            -- AES-256-GCM under ARCHESTRA_SECRET_KEY; key_id names the key so keys can rotate.
            CREATE TABLE llm_provider_keys (
                id           uuid PRIMARY KEY,
                provider_id  uuid NOT NULL REFERENCES llm_providers (id) ON DELETE CASCADE,
                name         text NOT NULL,
                ciphertext   bytea NOT NULL,
                nonce        bytea NOT NULL,
                key_id       text NOT NULL,
                last_used_at timestamptz,
                managed_by   text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   timestamptz NOT NULL DEFAULT now(),
                updated_at   timestamptz NOT NULL DEFAULT now(),
                UNIQUE (provider_id, name)
            );

            -- US dollars per million tokens.
            CREATE TABLE token_prices (
                model                    text PRIMARY KEY,
                provider                 text,
                input_per_million        numeric(20, 10) NOT NULL,
                output_per_million       numeric(20, 10) NOT NULL,
                cached_input_per_million numeric(20, 10),
                managed_by               text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at               timestamptz NOT NULL DEFAULT now(),
                updated_at               timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE limits (
                id         uuid PRIMARY KEY,
                -- what the limit applies to: a profile, a model, a provider, or the whole organization
                scope      text NOT NULL CHECK (scope IN ('organization', 'profile', 'model', 'provider')),
                target     text,
                kind       text NOT NULL CHECK (kind IN ('tokens', 'cost', 'requests')),
                period     text NOT NULL CHECK (period IN ('hour', 'day', 'week', 'month')),
                amount     numeric(20, 10) NOT NULL,
                action     text NOT NULL DEFAULT 'block' CHECK (action IN ('block', 'warn')),
                enabled    boolean NOT NULL DEFAULT true,
                managed_by text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE optimization_rules (
                id           uuid PRIMARY KEY,
                name         text NOT NULL,
                profiles     jsonb NOT NULL DEFAULT '[]',
                conditions   jsonb NOT NULL DEFAULT '[]',
                target_model text NOT NULL,
                priority     integer NOT NULL DEFAULT 0,
                enabled      boolean NOT NULL DEFAULT true,
                managed_by   text NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   timestamptz NOT NULL DEFAULT now(),
                updated_at   timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE admin_changes (
                id            uuid PRIMARY KEY,
                time          timestamptz NOT NULL,
                actor         text NOT NULL,
                action        text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
                resource_kind text NOT NULL,
                resource_id   text NOT NULL,
                details       jsonb NOT NULL DEFAULT '{}'
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
                id             uuid NOT NULL,
                time           timestamptz NOT NULL,
                profile        text NOT NULL,
                session_id     text,
                server         text NOT NULL,
                tool           text NOT NULL,
                decision       text NOT NULL,
                policy_id      text,
                outcome        text NOT NULL,
                duration_us    bigint NOT NULL,
                request_bytes  bigint NOT NULL,
                response_bytes bigint NOT NULL,
                error          text,
                arguments      text,
                PRIMARY KEY (time, id)
            );
            CREATE INDEX mcp_tool_calls_profile ON mcp_tool_calls (profile, time);
            CREATE INDEX mcp_tool_calls_not_ok ON mcp_tool_calls (outcome, time) WHERE outcome <> 'ok';

            CREATE TABLE llm_interactions (
                id                  uuid NOT NULL,
                time                timestamptz NOT NULL,
                profile             text NOT NULL,
                provider            text NOT NULL,
                requested_model     text NOT NULL,
                used_model          text,
                input_tokens        bigint NOT NULL,
                output_tokens       bigint NOT NULL,
                cached_input_tokens bigint NOT NULL,
                reasoning_tokens    bigint NOT NULL,
                cost                numeric(20, 10) NOT NULL,
                duration_us         bigint NOT NULL,
                ttft_us             bigint,
                status              text NOT NULL,
                blocked_tools       text,
                error               text,
                PRIMARY KEY (time, id)
            );
            CREATE INDEX llm_interactions_profile ON llm_interactions (profile, time);
            CREATE INDEX llm_interactions_model ON llm_interactions (requested_model, time);
            CREATE INDEX llm_interactions_not_ok ON llm_interactions (status, time) WHERE status <> 'ok';
            """),
        new(3, "llm-limits-total", """
            -- Admin API limits may run over the whole lifetime ("total"), not only a calendar period.
            ALTER TABLE limits DROP CONSTRAINT limits_period_check,
                ADD CONSTRAINT limits_period_check CHECK (period IN ('hour', 'day', 'week', 'month', 'total'));
            """),
        new(4, "discovered-tools-by-server-name", """
            -- Tools are discovered from every server, including the file's, which have no mcp_servers row: key them by
            -- the server's name. The old table was never written.
            DROP TABLE discovered_tools;
            CREATE TABLE discovered_tools (
                server       text NOT NULL,
                name         text NOT NULL,
                description  text,
                input_schema jsonb NOT NULL,
                first_seen   timestamptz NOT NULL,
                last_seen    timestamptz NOT NULL,
                PRIMARY KEY (server, name)
            );
            """),
        new(5, "llm-cost-nullable", """
            -- An interaction with a model the price table does not know has no cost (NULL), never a wrong 0.
            ALTER TABLE llm_interactions ALTER COLUMN cost DROP NOT NULL;
            """),
    ];
}
