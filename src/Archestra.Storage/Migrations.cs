namespace Archestra.Storage;

/// <summary>
/// One schema step. Versions are dense from 1, applied in order, each in its own transaction and recorded
/// in <c>archestra_schema</c>. Shipped migrations never change: add a new version instead.
/// </summary>
internal sealed record Migration(int Version, string Name, string Sql);

/// <summary>
/// The schema of both dialects from one text. Steps are written once with type placeholders, rendered per dialect:
/// PostgreSQL gets its own types; SQLite keeps uuids as 16-byte BLOBs in RFC 4122 (big-endian) byte order so ids sort
/// as in PostgreSQL, times as INTEGER microseconds since the Unix epoch (UTC), money as INTEGER units of 1e-10 USD
/// (PostgreSQL numeric(20,10)) so sums stay exact, booleans as 0/1 and JSON as TEXT. Only a step SQLite cannot express
/// the same way (it cannot alter a constraint) is written per dialect. Shipped versions are append only.
/// </summary>
internal static class Migrations
{
    // Tables that two steps write whole: each is written here once.
    private static string LlmInteractions(string table, string cost) =>
        $$"""
            CREATE TABLE {{table}} (
                id                  {uuid} NOT NULL,
                time                {time} NOT NULL,
                profile             {text} NOT NULL,
                provider            {text} NOT NULL,
                requested_model     {text} NOT NULL,
                used_model          {text},
                input_tokens        {bigint} NOT NULL,
                output_tokens       {bigint} NOT NULL,
                cached_input_tokens {bigint} NOT NULL,
                reasoning_tokens    {bigint} NOT NULL,
                cost                {{cost}},
                duration_us         {bigint} NOT NULL,
                ttft_us             {bigint},
                status              {text} NOT NULL,
                blocked_tools       {text},
                error               {text},
                PRIMARY KEY (time, id)
            );
            """;

    private const string LlmInteractionIndexes = """
        CREATE INDEX llm_interactions_profile ON llm_interactions (profile, time);
        CREATE INDEX llm_interactions_model ON llm_interactions (requested_model, time);
        CREATE INDEX llm_interactions_not_ok ON llm_interactions (status, time) WHERE status <> 'ok';
        """;

    private static string Limits(string table, string periods, string scopeComment) =>
        $$"""
            CREATE TABLE {{table}} (
                id         {uuid} PRIMARY KEY,{{scopeComment}}
                scope      {text} NOT NULL CHECK (scope IN ('organization', 'profile', 'model', 'provider')),
                target     {text},
                kind       {text} NOT NULL CHECK (kind IN ('tokens', 'cost', 'requests')),
                period     {text} NOT NULL CHECK (period IN ({{periods}})),
                amount     {money} NOT NULL,
                action     {text} NOT NULL DEFAULT 'block' CHECK (action IN ('block', 'warn')),
                enabled    {bool} NOT NULL DEFAULT {true},
                managed_by {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at {time} NOT NULL DEFAULT {now},
                updated_at {time} NOT NULL DEFAULT {now}
            );
            """;

    private static readonly (int Version, string Name, string Shared, string? Postgres, string? Sqlite)[] Steps =
    [
        (
            1,
            "resources",
            $$"""
            -- Every resource row: managed_by says whether the config file or the admin API owns it
            -- (file-managed rows are read-only through the API).
            CREATE TABLE profiles (
                id          {uuid} PRIMARY KEY,
                name        {text} NOT NULL UNIQUE,
                description {text},
                settings    {json} NOT NULL DEFAULT '{}',
                managed_by  {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at  {time} NOT NULL DEFAULT {now},
                updated_at  {time} NOT NULL DEFAULT {now}
            );

            CREATE TABLE mcp_servers (
                id         {uuid} PRIMARY KEY,
                name       {text} NOT NULL UNIQUE,
                transport  {text} NOT NULL CHECK (transport IN ('stdio', 'http', 'sse')),
                runtime    {text} NOT NULL DEFAULT 'local' CHECK (runtime IN ('local', 'remote', 'kubernetes')),
                -- command/args/env or url/headers exactly as in the file; secrets only as "env:NAME" references.
                config     {json} NOT NULL,
                enabled    {bool} NOT NULL DEFAULT {true},
                managed_by {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at {time} NOT NULL DEFAULT {now},
                updated_at {time} NOT NULL DEFAULT {now}
            );

            CREATE TABLE profile_servers (
                profile_id {uuid} NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
                server_id  {uuid} NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                managed_by {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at {time} NOT NULL DEFAULT {now},
                updated_at {time} NOT NULL DEFAULT {now},
                PRIMARY KEY (profile_id, server_id)
            );
            CREATE INDEX profile_servers_server ON profile_servers (server_id);

            CREATE TABLE discovered_tools (
                server_id    {uuid} NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                name         {text} NOT NULL,
                description  {text},
                input_schema {json} NOT NULL DEFAULT '{}',
                first_seen   {time} NOT NULL DEFAULT {now},
                last_seen    {time} NOT NULL DEFAULT {now},
                PRIMARY KEY (server_id, name)
            );

            CREATE TABLE tool_settings (
                server_id                  {uuid} NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
                tool_name                  {text} NOT NULL,
                allow_usage_when_untrusted {bool} NOT NULL DEFAULT {false},
                result_treatment           {text} NOT NULL DEFAULT 'untrusted'
                    CHECK (result_treatment IN ('trusted', 'untrusted', 'sanitize_with_dual_llm')),
                managed_by                 {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at                 {time} NOT NULL DEFAULT {now},
                updated_at                 {time} NOT NULL DEFAULT {now},
                PRIMARY KEY (server_id, tool_name)
            );

            CREATE TABLE policies (
                id         {uuid} PRIMARY KEY,
                kind       {text} NOT NULL CHECK (kind IN ('tool_invocation', 'trusted_data')),
                -- "server__tool" or a pattern the policy compiler understands.
                tool       {text} NOT NULL,
                -- JSON array of profile names; empty means every profile.
                profiles   {json} NOT NULL DEFAULT '[]',
                conditions {json} NOT NULL DEFAULT '[]',
                action     {text} NOT NULL,
                reason     {text},
                priority   {int} NOT NULL DEFAULT 0,
                enabled    {bool} NOT NULL DEFAULT {true},
                managed_by {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at {time} NOT NULL DEFAULT {now},
                updated_at {time} NOT NULL DEFAULT {now}
            );
            CREATE INDEX policies_tool ON policies (kind, tool);

            -- Tokens and keys: only SHA-256 hashes are stored; the secret is shown once at creation.
            CREATE TABLE gateway_tokens (
                id           {uuid} PRIMARY KEY,
                name         {text} NOT NULL,
                token_hash   {bytes} NOT NULL UNIQUE,
                profile_id   {uuid} REFERENCES profiles (id) ON DELETE CASCADE,
                expires_at   {time},
                revoked_at   {time},
                last_used_at {time},
                managed_by   {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   {time} NOT NULL DEFAULT {now},
                updated_at   {time} NOT NULL DEFAULT {now}
            );

            CREATE TABLE admin_keys (
                id           {uuid} PRIMARY KEY,
                name         {text} NOT NULL,
                key_hash     {bytes} NOT NULL UNIQUE,
                scope        {text} NOT NULL CHECK (scope IN ('read-only', 'read-write')),
                revoked_at   {time},
                last_used_at {time},
                managed_by   {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   {time} NOT NULL DEFAULT {now},
                updated_at   {time} NOT NULL DEFAULT {now}
            );

            CREATE TABLE llm_providers (
                id         {uuid} PRIMARY KEY,
                name       {text} NOT NULL UNIQUE,
                kind       {text} NOT NULL,
                base_url   {text},
                settings   {json} NOT NULL DEFAULT '{}',
                managed_by {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at {time} NOT NULL DEFAULT {now},
                updated_at {time} NOT NULL DEFAULT {now}
            );

            -- AES-256-GCM under ARCHESTRA_SECRET_KEY; key_id names the key so keys can rotate.
            CREATE TABLE llm_provider_keys (
                id           {uuid} PRIMARY KEY,
                provider_id  {uuid} NOT NULL REFERENCES llm_providers (id) ON DELETE CASCADE,
                name         {text} NOT NULL,
                ciphertext   {bytes} NOT NULL,
                nonce        {bytes} NOT NULL,
                key_id       {text} NOT NULL,
                last_used_at {time},
                managed_by   {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   {time} NOT NULL DEFAULT {now},
                updated_at   {time} NOT NULL DEFAULT {now},
                UNIQUE (provider_id, name)
            );

            -- US dollars per million tokens.
            CREATE TABLE token_prices (
                model                    {text} PRIMARY KEY,
                provider                 {text},
                input_per_million        {money} NOT NULL,
                output_per_million       {money} NOT NULL,
                cached_input_per_million {money},
                managed_by               {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at               {time} NOT NULL DEFAULT {now},
                updated_at               {time} NOT NULL DEFAULT {now}
            );

            {{Limits(
                "limits",
                "'hour', 'day', 'week', 'month'",
                "\n    -- what the limit applies to: a profile, a model, a provider, or the whole organization"
            )}}

            CREATE TABLE optimization_rules (
                id           {uuid} PRIMARY KEY,
                name         {text} NOT NULL,
                profiles     {json} NOT NULL DEFAULT '[]',
                conditions   {json} NOT NULL DEFAULT '[]',
                target_model {text} NOT NULL,
                priority     {int} NOT NULL DEFAULT 0,
                enabled      {bool} NOT NULL DEFAULT {true},
                managed_by   {text} NOT NULL CHECK (managed_by IN ('file', 'api')),
                created_at   {time} NOT NULL DEFAULT {now},
                updated_at   {time} NOT NULL DEFAULT {now}
            );

            CREATE TABLE admin_changes (
                id            {uuid} PRIMARY KEY,
                time          {time} NOT NULL,
                actor         {text} NOT NULL,
                action        {text} NOT NULL CHECK (action IN ('create', 'update', 'delete')),
                resource_kind {text} NOT NULL,
                resource_id   {text} NOT NULL,
                details       {json} NOT NULL DEFAULT '{}'
            );
            CREATE INDEX admin_changes_time ON admin_changes (time, id);
            CREATE INDEX admin_changes_resource ON admin_changes (resource_kind, resource_id, time);
            """,
            null,
            null
        ),
        (
            2,
            "audit",
            $$"""
            -- Audit rows: the primary key (time, id) is both the time-range/pagination index and the idempotence key
            -- (a replay carries the same time and UUIDv7 id). Measured on this 2-core machine, each extra btree costs
            -- ~25% of write throughput, so filters get only the indexes that pay: profile (the usual scope of a view)
            -- and partial ones on the rare non-ok outcomes; server/tool filters walk the time-ordered key.
            CREATE TABLE mcp_tool_calls (
                id             {uuid} NOT NULL,
                time           {time} NOT NULL,
                profile        {text} NOT NULL,
                session_id     {text},
                server         {text} NOT NULL,
                tool           {text} NOT NULL,
                decision       {text} NOT NULL,
                policy_id      {text},
                outcome        {text} NOT NULL,
                duration_us    {bigint} NOT NULL,
                request_bytes  {bigint} NOT NULL,
                response_bytes {bigint} NOT NULL,
                error          {text},
                arguments      {text},
                PRIMARY KEY (time, id)
            );
            CREATE INDEX mcp_tool_calls_profile ON mcp_tool_calls (profile, time);
            CREATE INDEX mcp_tool_calls_not_ok ON mcp_tool_calls (outcome, time) WHERE outcome <> 'ok';

            {{LlmInteractions("llm_interactions", "{money} NOT NULL")}}
            {{LlmInteractionIndexes}}
            """,
            null,
            null
        ),
        (
            3,
            "llm-limits-total",
            "",
            """
            -- Admin API limits may run over the whole lifetime ("total"), not only a calendar period.
            ALTER TABLE limits DROP CONSTRAINT limits_period_check,
                ADD CONSTRAINT limits_period_check CHECK (period IN ('hour', 'day', 'week', 'month', 'total'));
            """,
            $$"""
            -- Admin API limits may run over the whole lifetime ("total"), not only a calendar period. SQLite cannot
            -- alter a CHECK constraint: the table is rebuilt with the rows copied (nothing references it).
            {{Limits("limits_v3", "'hour', 'day', 'week', 'month', 'total'", "")}}
            INSERT INTO limits_v3 (id, scope, target, kind, period, amount, action, enabled, managed_by, created_at, updated_at)
                SELECT id, scope, target, kind, period, amount, action, enabled, managed_by, created_at, updated_at FROM limits;
            DROP TABLE limits;
            ALTER TABLE limits_v3 RENAME TO limits;
            """
        ),
        (
            4,
            "discovered-tools-by-server-name",
            """
            -- Tools are discovered from every server, including the file's, which have no mcp_servers row: key them by
            -- the server's name. The old table was never written.
            DROP TABLE discovered_tools;
            CREATE TABLE discovered_tools (
                server       {text} NOT NULL,
                name         {text} NOT NULL,
                description  {text},
                input_schema {json} NOT NULL,
                first_seen   {time} NOT NULL,
                last_seen    {time} NOT NULL,
                PRIMARY KEY (server, name)
            );
            """,
            null,
            null
        ),
        (
            5,
            "llm-cost-nullable",
            "",
            """
            -- An interaction with a model the price table does not know has no cost (NULL), never a wrong 0.
            ALTER TABLE llm_interactions ALTER COLUMN cost DROP NOT NULL;
            """,
            $$"""
            -- An interaction with a model the price table does not know has no cost (NULL), never a wrong 0. SQLite
            -- cannot drop NOT NULL: the table is rebuilt with its rows and indexes (nothing references it).
            {{LlmInteractions("llm_interactions_v5", "{money}")}}
            INSERT INTO llm_interactions_v5 SELECT id, time, profile, provider, requested_model, used_model, input_tokens, output_tokens,
                cached_input_tokens, reasoning_tokens, cost, duration_us, ttft_us, status, blocked_tools, error FROM llm_interactions;
            DROP TABLE llm_interactions;
            ALTER TABLE llm_interactions_v5 RENAME TO llm_interactions;
            {{LlmInteractionIndexes}}
            """
        ),
        (
            6,
            "audit-agent-correlation",
            """
            -- The X-Archestra-Agent-Id and X-Archestra-Session-Id headers clients send: which agent, which conversation.
            ALTER TABLE mcp_tool_calls ADD COLUMN agent_id {text};
            ALTER TABLE mcp_tool_calls ADD COLUMN agent_session_id {text};
            ALTER TABLE llm_interactions ADD COLUMN agent_id {text};
            ALTER TABLE llm_interactions ADD COLUMN agent_session_id {text};
            CREATE INDEX mcp_tool_calls_agent_session ON mcp_tool_calls (agent_session_id, time) WHERE agent_session_id IS NOT NULL;
            CREATE INDEX llm_interactions_agent_session ON llm_interactions (agent_session_id, time) WHERE agent_session_id IS NOT NULL;
            """,
            null,
            null
        ),
        (
            7,
            "spent-request-states",
            """
            -- The nonces of answered approval requestStates (MCP 2026-07-28): each is answered once, on any replica of this
            -- database. A row outlives its state's expiry by a margin for clock skew, then is deleted.
            CREATE TABLE spent_request_states (
                nonce      {bytes} NOT NULL PRIMARY KEY,
                expires_at {time} NOT NULL
            );
            CREATE INDEX spent_request_states_expiry ON spent_request_states (expires_at);
            """,
            null,
            null
        ),
        (
            8,
            "session-taints",
            """
            -- MCP sessions that untrusted data entered, by the SHA-256 of the session id (the id is a bearer value), so every
            -- replica of the database judges the session's next calls as untrusted. Kept while the session can be resumed.
            CREATE TABLE session_taints (
                session    {bytes} NOT NULL PRIMARY KEY,
                tainted_by {text} NOT NULL,
                time       {time} NOT NULL,
                expires_at {time} NOT NULL
            );
            CREATE INDEX session_taints_expiry ON session_taints (expires_at);
            """,
            null,
            null
        ),
    ];

    // After Steps: static fields are initialised in the order they are written.
    /// <summary>The steps in PostgreSQL.</summary>
    public static readonly Migration[] Postgres = Render(StorageDialect.Postgres);

    /// <summary>The steps in SQLite.</summary>
    public static readonly Migration[] Sqlite = Render(StorageDialect.Sqlite);

    /// <summary>The placeholders' types in each dialect.</summary>
    private static string Type(string name, StorageDialect dialect) =>
        (name, dialect == StorageDialect.Postgres) switch
        {
            ("uuid", true) => "uuid",
            ("uuid", false) or ("bytes", false) => "BLOB",
            ("bytes", true) => "bytea",
            ("text", true) => "text",
            ("text", false) or ("json", false) => "TEXT",
            ("json", true) => "jsonb",
            ("time", true) => "timestamptz",
            ("money", true) => "numeric(20, 10)",
            ("bool", true) => "boolean",
            ("int", true) => "integer",
            ("bigint", true) => "bigint",
            ("time", false) or ("money", false) or ("bool", false) or ("int", false) or ("bigint", false) => "INTEGER",
            ("true", true) => "true",
            ("true", false) => "1",
            ("false", true) => "false",
            ("false", false) => "0",
            ("now", true) => "now()",
            ("now", false) => "(CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))",
            _ => throw new InvalidOperationException($"unknown schema placeholder {{{name}}}"),
        };

    private static Migration[] Render(StorageDialect dialect)
    {
        var migrations = new Migration[Steps.Length];
        for (var i = 0; i < Steps.Length; i++)
        {
            var (version, name, shared, postgres, sqlite) = Steps[i];
            var template = (dialect == StorageDialect.Postgres ? postgres : sqlite) ?? shared;
            migrations[i] = new Migration(version, name, Fill(template, dialect));
        }

        return migrations;
    }

    /// <summary>Replaces each <c>{name}</c> placeholder (lower-case letters in braces; JSON defaults such as <c>'{}'</c> are not one).</summary>
    private static string Fill(string template, StorageDialect dialect)
    {
        var sql = new System.Text.StringBuilder(template.Length + 1024);
        var start = 0;
        for (var open = template.IndexOf('{', start); open >= 0; open = template.IndexOf('{', start))
        {
            var close = open + 1;
            while (close < template.Length && char.IsAsciiLetterLower(template[close]))
            {
                close++;
            }

            if (close == open + 1 || close == template.Length || template[close] != '}')
            {
                sql.Append(template, start, open + 1 - start);
                start = open + 1;
                continue;
            }

            sql.Append(template, start, open - start).Append(Type(template[(open + 1)..close], dialect));
            start = close + 1;
        }

        return sql.Append(template, start, template.Length - start).ToString();
    }
}
