using System.Collections.Frozen;
using Archestra.Policy;
using Archestra.Runtime.Kubernetes;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// The validated configuration. Produced only by <see cref="ConfigLoader"/>; every <c>env:NAME</c>
/// reference is already resolved and every default applied, so readers never re-check it.
/// </summary>
public sealed record GatewayConfig
{
    /// <summary>The file it was loaded from (for messages), or null for the built-in defaults.</summary>
    public string? SourcePath { get; init; }

    public ListenConfig Listen { get; init; } = new();

    public LimitsConfig Limits { get; init; } = new();

    public SecurityConfig Security { get; init; } = new();

    /// <summary>Servers by name, in file order.</summary>
    public IReadOnlyList<McpServerConfig> McpServers { get; init; } = [];

    /// <summary>Profiles by name, in file order.</summary>
    public IReadOnlyList<ProfileConfig> Profiles { get; init; } = [];

    /// <summary>The policies and per-tool defaults as written, for the admin API and for recompiling.</summary>
    public PolicySetDefinition PolicyDefinitions { get; init; } = new([], [], []);

    /// <summary>The same, compiled; what the gateway evaluates.</summary>
    public PolicySnapshot Policies { get; init; } = PolicySnapshot.Empty;

    public StorageConfig Storage { get; init; } = new();

    /// <summary>Admin API keys from the file (hashes only).</summary>
    public IReadOnlyList<AdminKeyConfig> AdminKeys { get; init; } = [];

    /// <summary>Upstream LLM providers by name, in file order (see docs/configuration.md, <c>llmProviders</c>).</summary>
    public IReadOnlyList<LlmProviderConfig> LlmProviders { get; init; } = [];

    /// <summary>The cluster servers with <c>"runtime": "kubernetes"</c> run in; null: no such section.</summary>
    public KubernetesOptions? Kubernetes { get; init; }

    /// <summary>The <c>telemetry</c> section: OTLP export of traces and metrics (the OTEL_* variables win over it).</summary>
    public TelemetryConfig Telemetry { get; init; } = new();
}

public sealed record StorageConfig
{
    /// <summary><c>postgres://...</c>; null: the embedded SQLite file under <see cref="DataDirectory"/>. ARCHESTRA_DATABASE_URL wins over the file.</summary>
    public string? Database { get; init; }

    /// <summary>Holds the SQLite database and the audit spill files.</summary>
    public string DataDirectory { get; init; } = "./data";

    public TimeSpan AuditFlushInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>See <see cref="Storage.StorageOptions.WriteDeadline"/>: an audit batch not committed within this goes to the spill file.</summary>
    public TimeSpan AuditWriteDeadline { get; init; } = TimeSpan.FromMilliseconds(200);

    public int AuditBatchSize { get; init; } = 1_000;

    public int AuditQueueCapacity { get; init; } = 100_000;

    public int AuditRetentionDays { get; init; } = 30;

    public int AuditMaxArgumentBytes { get; init; } = 4_096;
}

/// <param name="Name">Shown in the admin change log as who made a change.</param>
/// <param name="Hash">SHA-256 of the key.</param>
/// <param name="CanWrite">False: read-only (GET only).</param>
public sealed record AdminKeyConfig(string Name, byte[] Hash, bool CanWrite);

public sealed record ListenConfig
{
    public string Gateway { get; init; } = "http://127.0.0.1:9000";
    public string Admin { get; init; } = "http://127.0.0.1:9001";
    public string Metrics { get; init; } = "http://127.0.0.1:9050";
}

public sealed record LimitsConfig
{
    /// <summary>4 MiB: the default; large enough for base64 images in tool arguments.</summary>
    public long MaxRequestBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>A session with no request for this long is ended. 30 min, like common MCP server defaults.</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Upper bound on live sessions, so a client looping on initialize can't exhaust memory.</summary>
    public int MaxSessions { get; init; } = 10_000;

    /// <summary>How long a require_approval call waits for the user's answer before it is refused.</summary>
    public TimeSpan ApprovalTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// 1 MiB, nginx's <c>client_max_body_size</c> default: an admin body is one resource definition of a few KiB,
    /// and a larger one would be parsed into memory and stored in the database.
    /// </summary>
    public long MaxAdminRequestBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// A request body arriving slower than this (after <see cref="RequestBodyGracePeriod"/>) is refused with 408 on
    /// every listener. 240 bytes/s is Kestrel's <c>MinRequestBodyDataRate</c> default.
    /// </summary>
    public int MinRequestBodyBytesPerSecond { get; init; } = 240;

    /// <summary>5 s, Kestrel's <c>MinRequestBodyDataRate</c> grace period; Kestrel needs more than its 1 s heartbeat.</summary>
    public TimeSpan RequestBodyGracePeriod { get; init; } = TimeSpan.FromSeconds(5);
}

public sealed record SecurityConfig
{
    /// <summary>
    /// Origins allowed to call the gateway from a browser (exact match, or <c>*</c> for any). Requests
    /// without an Origin header (SDKs, curl) are always allowed. Loopback origins are allowed by default.
    /// </summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];

    /// <summary>Host header values accepted on a loopback listener besides localhost/127.0.0.1/[::1].</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// HMAC key that signs session ids, shared by every replica (and kept across restarts) so that any
    /// of them can resume a session another one created. Null: a random key per process.
    /// </summary>
    public byte[]? SessionKey { get; init; }
}

public enum McpServerKind
{
    Stdio,
    StreamableHttp,
    Sse,
}

public sealed record McpServerConfig
{
    public required string Name { get; init; }
    public required McpServerKind Kind { get; init; }

    // stdio
    public string? Command { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyDictionary<string, string> Env { get; init; } = FrozenDictionary<string, string>.Empty;
    public string? Cwd { get; init; }

    // remote
    public Uri? Url { get; init; }
    public IReadOnlyDictionary<string, string> Headers { get; init; } = FrozenDictionary<string, string>.Empty;

    /// <summary>Per-call timeout; 60 s default matches the MCP TypeScript SDK's request timeout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Set for <c>"runtime": "kubernetes"</c>: the gateway runs the server as a Deployment and speaks Streamable HTTP to
    /// its Service. Such a server has a command (run under archestra bridge) or only an image (Kind StreamableHttp, no Url).
    /// </summary>
    public KubernetesServerSettings? Kubernetes { get; init; }
}

public enum ToolPrefixMode
{
    /// <summary>Prefix names with <c>{server}__</c> only when the profile has more than one server.</summary>
    Multiplex,
    Always,
}

public sealed record ProfileConfig
{
    public required string Name { get; init; }
    public required IReadOnlyList<string> Servers { get; init; }

    /// <summary>SHA-256 hashes (32 bytes each) of the accepted bearer tokens. Empty: no authentication.</summary>
    public IReadOnlyList<byte[]> TokenHashes { get; init; } = [];

    public ToolPrefixMode ToolPrefix { get; init; } = ToolPrefixMode.Multiplex;

    /// <summary>Per-tool defaults keyed by the namespaced name <c>{server}__{tool}</c>.</summary>
    public IReadOnlyDictionary<string, ToolSettings> Tools { get; init; } = FrozenDictionary<string, ToolSettings>.Empty;

    /// <summary>The LLM proxy endpoints of this profile; null: none.</summary>
    public ProfileLlmConfig? Llm { get; init; }

    /// <summary>Per server: the tools this profile exposes (absent server: all of them).</summary>
    public IReadOnlyDictionary<string, ToolSelectionConfig> ToolSelection { get; init; } = FrozenDictionary<string, ToolSelectionConfig>.Empty;

    public BuiltinToolsMode BuiltinTools { get; init; } = BuiltinToolsMode.On;

    /// <summary>tools/list leaves out what the policies would refuse in the session's state (a courtesy; calls are still decided).</summary>
    public bool DynamicTools { get; init; } = true;

    /// <summary><c>telemetry.captureContent</c>: spans carry tool arguments and results, prompts and completions (off: never).</summary>
    public bool CaptureContent { get; init; }

    /// <summary>
    /// Set only by <c>archestra bridge</c>, never read from a file: a tools/call naming a tool the server did not list goes to
    /// the server, which answers it as it would without the bridge. The gateway in front of a bridge decides on names.
    /// </summary>
    public bool ForwardUnlistedTools { get; init; }
}
