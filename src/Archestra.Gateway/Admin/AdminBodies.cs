using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Archestra.Gateway.Admin;

// The admin API's bodies, one record each: they are serialised by the source-generated AdminJson context, and the
// OpenAPI document's schemas are generated from the same metadata (AdminHandlers.OpenApi.cs), so a body and its
// schema cannot drift. A request record's properties are also the keys its reader accepts (AdminBodies.Keys).
// Optional members (default null) are left out when null; the rest are required.

/// <summary>A list: <c>{"items": [...]}</c>.</summary>
internal sealed record ItemsBody<T>(IReadOnlyList<T> Items);

/// <summary>Token prices of one model, US dollars per million tokens.</summary>
internal sealed record PriceBody(
    string Model,
    decimal InputPerMillion,
    decimal OutputPerMillion,
    string ManagedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    decimal? CachedInputPerMillion = null
);

internal sealed record PriceRequest(
    string? Model = null,
    decimal? InputPerMillion = null,
    decimal? OutputPerMillion = null,
    decimal? CachedInputPerMillion = null
);

/// <param name="Kind">tokens or usd.</param>
/// <param name="Period">day, month or total.</param>
internal sealed record LimitBody(
    string Id,
    string Profile,
    string Kind,
    string Period,
    decimal Value,
    string ManagedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt
);

internal sealed record LimitRequest(string? Id = null, string? Profile = null, string? Kind = null, string? Period = null, decimal? Value = null);

/// <summary>When a rule applies: every condition given must hold.</summary>
internal sealed record RuleConditionsBody(long? MaxInputTokens = null, long? MaxInputChars = null, bool? HasTools = null, string? RequestedModel = null);

/// <param name="Profile">The profile the rule is limited to; null for every profile.</param>
internal sealed record RuleBody(
    string Id,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Profile,
    RuleConditionsBody Conditions,
    string TargetModel,
    bool Enabled,
    string ManagedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt
);

internal sealed record RuleRequest(
    string? Id = null,
    string? Profile = null,
    RuleConditionsBody? Conditions = null,
    string? TargetModel = null,
    bool? Enabled = null
);

/// <param name="Key">The admin key itself: only in the answer to its creation.</param>
internal sealed record AdminKeyBody(string Name, string Scope, string ManagedBy, DateTime? CreatedAt = null, DateTime? LastUsedAt = null, string? Key = null);

/// <param name="Scope">read-only or read-write.</param>
internal sealed record AdminKeyRequest(string? Name = null, string? Scope = null);

/// <param name="Token">The token itself: only in the answer to its creation.</param>
internal sealed record TokenBody(string Name, string Profile, string ManagedBy, DateTime? CreatedAt = null, DateTime? LastUsedAt = null, string? Token = null);

internal sealed record TokenRequest(string? Name = null, string? Profile = null);

/// <summary>A provider API key by name; the key itself is never answered.</summary>
internal sealed record ProviderKeyBody(string Name, bool HasKey, DateTime UpdatedAt);

internal sealed record ProviderBody(
    string Name,
    string Kind,
    string BaseUrl,
    IReadOnlyList<ProviderKeyBody> ApiKeys,
    string ManagedBy,
    DateTime CreatedAt,
    DateTime UpdatedAt
);

internal sealed record ProviderKeyRequest(string? Name = null, string? Key = null);

/// <summary>The timeout and resilience fields are the configuration file's (docs/configuration.md, llmProviders).</summary>
internal sealed record ProviderRequest(
    string? Name = null,
    string? Kind = null,
    string? BaseUrl = null,
    IReadOnlyList<ProviderKeyRequest>? ApiKeys = null,
    double? TimeoutSeconds = null,
    double? ConnectTimeoutSeconds = null,
    int? Retries = null,
    double? MaxRetryAfterSeconds = null,
    JsonElement? CircuitBreaker = null
);

/// <param name="Config">The file's <c>mcpServers</c> entry; env and header values other than env:NAME references are "(hidden)".</param>
/// <param name="State">ready, starting, down or stopped.</param>
internal sealed record ServerBody(string Name, string ManagedBy, string State, JsonElement Config, DateTime? CreatedAt = null, DateTime? UpdatedAt = null);

/// <summary>
/// The body of a server's create and replace: the file's <c>mcpServers</c> entry with its name. <c>env</c> and
/// <c>headers</c> values are env:NAME references; <c>timeoutSeconds</c> is a number or an env:NAME reference.
/// </summary>
internal sealed record ServerRequest(
    string? Name = null,
    string? Type = null,
    string? Command = null,
    IReadOnlyList<string>? Args = null,
    IReadOnlyDictionary<string, string>? Env = null,
    string? Cwd = null,
    string? Url = null,
    IReadOnlyDictionary<string, string>? Headers = null,
    string? Transport = null,
    JsonElement? TimeoutSeconds = null
);

internal sealed record PolicyConditionBody(string Key, string Operator, string Value);

internal sealed record PolicyBody(
    string Id,
    string Tool,
    string Action,
    IReadOnlyList<PolicyConditionBody> Conditions,
    string Reason,
    IReadOnlyList<string> Profiles,
    string ManagedBy,
    DateTime? CreatedAt = null,
    DateTime? UpdatedAt = null
);

/// <summary>
/// A profile: the file's profile object (servers, toolPrefix, tools and, for an API profile, any other key it was
/// created with, such as llm) with its endpoint and the number of its tokens.
/// </summary>
internal sealed record ProfileBody
{
    public required string Name { get; init; }

    public required string ManagedBy { get; init; }

    public required string Endpoint { get; init; }

    public string? Description { get; init; }

    public IReadOnlyList<string>? Servers { get; init; }

    public string? ToolPrefix { get; init; }

    public JsonElement? Tools { get; init; }

    /// <summary>Per server: <c>{"allow": [...], "deny": [...]}</c>, the tools this profile exposes.</summary>
    public JsonElement? ToolSelection { get; init; }

    public string? BuiltinTools { get; init; }

    public bool? DynamicTools { get; init; }

    public required int Tokens { get; init; }

    public DateTime? CreatedAt { get; init; }

    public DateTime? UpdatedAt { get; init; }

    /// <summary>
    /// The API profile's other settings, as stored. Settable: System.Text.Json binds an init-only extension property like a
    /// constructor parameter, and refuses that.
    /// </summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Settings { get; set; }
}

/// <summary>One page of an audit list; <see cref="NextCursor"/> is null on the last page.</summary>
internal sealed record PageBody<T>(IReadOnlyList<T> Items, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NextCursor);

internal sealed record ToolCallBody
{
    public required Guid Id { get; init; }

    public required DateTime Time { get; init; }

    public required string Profile { get; init; }

    public string? SessionId { get; init; }

    public required string Server { get; init; }

    public required string Tool { get; init; }

    public required string Decision { get; init; }

    public string? PolicyId { get; init; }

    public required string Outcome { get; init; }

    public required double DurationMs { get; init; }

    public required long RequestBytes { get; init; }

    public required long ResponseBytes { get; init; }

    public string? Error { get; init; }

    public string? Arguments { get; init; }

    /// <summary>The client's X-Archestra-Agent-Id header.</summary>
    public string? AgentId { get; init; }

    /// <summary>The client's X-Archestra-Session-Id header.</summary>
    public string? AgentSessionId { get; init; }
}

internal sealed record LlmInteractionBody
{
    public required Guid Id { get; init; }

    public required DateTime Time { get; init; }

    public required string Profile { get; init; }

    public required string Provider { get; init; }

    public required string RequestedModel { get; init; }

    public string? UsedModel { get; init; }

    public required long InputTokens { get; init; }

    public required long OutputTokens { get; init; }

    public required long CachedInputTokens { get; init; }

    public required long ReasoningTokens { get; init; }

    /// <summary>US dollars; null when the model has no price (see /api/llm/prices), never a wrong 0.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public required decimal? Cost { get; init; }

    public required double DurationMs { get; init; }

    public double? TimeToFirstTokenMs { get; init; }

    public required string Status { get; init; }

    public string? BlockedTools { get; init; }

    public string? Error { get; init; }

    /// <summary>The client's X-Archestra-Agent-Id header.</summary>
    public string? AgentId { get; init; }

    /// <summary>The client's X-Archestra-Session-Id header.</summary>
    public string? AgentSessionId { get; init; }
}

/// <param name="Details">The change as sent (a server's inline env and header values as "(hidden)").</param>
internal sealed record AdminChangeBody(Guid Id, DateTime Time, string Actor, string Action, string ResourceKind, string ResourceId, JsonElement Details);

/// <param name="Day">The UTC day, yyyy-MM-dd.</param>
/// <param name="Cost">US dollars of the priced interactions.</param>
internal sealed record UsageItemBody(
    string Day,
    string Profile,
    string Model,
    long Requests,
    long InputTokens,
    long OutputTokens,
    long CachedInputTokens,
    long ReasoningTokens,
    decimal Cost
);

internal sealed record UsageBody(DateTime From, DateTime To, IReadOnlyList<UsageItemBody> Items);

/// <summary>A server on the Kubernetes runtime: its objects' name, the address the gateway calls, its pods.</summary>
internal sealed record KubernetesStatusBody(
    string ObjectName,
    string Address,
    int Replicas,
    int ReadyReplicas,
    int Restarts,
    bool Deployed,
    string? LastFailure = null,
    string? RuntimeError = null,
    string? Reconciler = null
);

/// <summary>
/// A server's live state: ready, starting, down or stopped (with the reason), the protocol it speaks, calls in
/// flight, its tools, and for a local process its restarts and pid, for a Kubernetes server its pods.
/// </summary>
internal sealed record ServerStatusBody
{
    public required string Name { get; init; }

    public required string ManagedBy { get; init; }

    public required string State { get; init; }

    public string? Detail { get; init; }

    public string? ProtocolVersion { get; init; }

    public required int InFlight { get; init; }

    public int? Tools { get; init; }

    public long? Restarts { get; init; }

    public int? Pid { get; init; }

    public KubernetesStatusBody? Kubernetes { get; init; }
}

/// <summary>A server's last output lines: a local process's stderr, or a Kubernetes pod's log (then <see cref="Pod"/>).</summary>
internal sealed record ServerLogBody(string Name, IReadOnlyList<string> Lines, string? Pod = null);

/// <summary>A tool's settings in a profile, as the file's <c>tools</c> object holds them.</summary>
internal sealed record ToolSettingsBody(bool AllowUsageWhenUntrustedDataIsPresent, string ResultTreatment);

/// <summary>The body of <c>PUT /api/tools/{profile}/{tool}</c>: the settings to store (defaults for what is left out).</summary>
internal sealed record ToolSettingsRequest(bool? AllowUsageWhenUntrustedDataIsPresent = null, string? ResultTreatment = null);

/// <summary>One entry of a profile's <c>tools</c> object.</summary>
internal sealed record ToolSettingBody(string Id, string Profile, string Tool, ToolSettingsBody Settings, string ManagedBy);

/// <summary>
/// A discovered tool as a profile exposes it: its effective settings and the <c>tools</c> key they came from, whether
/// its server answers now, and when the gateway first and last saw it listed.
/// </summary>
internal sealed record ToolBody
{
    public required string Id { get; init; }

    public required string Profile { get; init; }

    public required string Server { get; init; }

    public required string Tool { get; init; }

    public required string Name { get; init; }

    public string? Description { get; init; }

    public required ToolSettingsBody Settings { get; init; }

    public string? SettingsFrom { get; init; }

    /// <summary>Whether the profile exposes the tool (lists it and forwards calls to it), by its <c>toolSelection</c>.</summary>
    public required bool Exposed { get; init; }

    /// <summary>The <c>toolSelection</c> rule that decided <see cref="Exposed"/>; null when the server has no selection.</summary>
    public string? ExposedBy { get; init; }

    public required string ManagedBy { get; init; }

    public required bool Online { get; init; }

    public DateTime? FirstSeen { get; init; }

    public DateTime? LastSeen { get; init; }
}

/// <summary>
/// The body of a profile's create and replace: the file's profile object without tokens (they have their own route),
/// with a name and a description. <c>llm</c> is the file's LLM section of a profile.
/// </summary>
internal sealed record ProfileRequest(
    string? Name = null,
    string? Description = null,
    IReadOnlyList<string>? Servers = null,
    string? ToolPrefix = null,
    IReadOnlyDictionary<string, ToolSettingsRequest>? Tools = null,
    JsonElement? Llm = null,
    IReadOnlyDictionary<string, ToolSelectionRequest>? ToolSelection = null,
    string? BuiltinTools = null,
    bool? DynamicTools = null
);

/// <summary>The tools of one server a profile exposes: <c>*</c> patterns over the server's own tool names; deny wins.</summary>
internal sealed record ToolSelectionRequest(IReadOnlyList<string>? Allow = null, IReadOnlyList<string>? Deny = null);

/// <summary>
/// A sample call (and optionally its result) for <c>POST /api/policies/evaluate</c>: what the live policies of
/// <see cref="Profile"/> would decide, without calling anything.
/// </summary>
internal sealed record PolicyEvaluationRequest(
    string? Profile = null,
    string? Tool = null,
    JsonElement? Arguments = null,
    bool? ContextTrusted = null,
    JsonElement? Result = null
);

/// <param name="Decision">allow, block or require_approval for a call; trusted, untrusted, block or sanitize_with_dual_llm for a result.</param>
/// <param name="Source">
/// policy (then <paramref name="PolicyId"/>), trusted_context (no policy needed: the context is trusted), settings (the
/// tool's defaults) or built_in.
/// </param>
internal sealed record DecisionBody(string Decision, string Source, string? PolicyId, string Reason);

internal sealed record PolicyEvaluationBody(DecisionBody Invocation, DecisionBody? Result);

/// <summary>The body of a policy's create and replace: the file's policy object (the id is the server's).</summary>
internal sealed record PolicyRequest(
    string? Tool = null,
    string? Action = null,
    IReadOnlyList<PolicyConditionBody>? Conditions = null,
    string? Reason = null,
    IReadOnlyList<string>? Profiles = null,
    string? Id = null
);

/// <summary>The source-generated serialisers of the admin API's bodies.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true
)]
[JsonSerializable(typeof(PriceBody))]
[JsonSerializable(typeof(ItemsBody<PriceBody>))]
[JsonSerializable(typeof(PriceRequest))]
[JsonSerializable(typeof(LimitBody))]
[JsonSerializable(typeof(ItemsBody<LimitBody>))]
[JsonSerializable(typeof(LimitRequest))]
[JsonSerializable(typeof(RuleBody))]
[JsonSerializable(typeof(ItemsBody<RuleBody>))]
[JsonSerializable(typeof(RuleRequest))]
[JsonSerializable(typeof(AdminKeyBody))]
[JsonSerializable(typeof(ItemsBody<AdminKeyBody>))]
[JsonSerializable(typeof(AdminKeyRequest))]
[JsonSerializable(typeof(TokenBody))]
[JsonSerializable(typeof(ItemsBody<TokenBody>))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(ProviderBody))]
[JsonSerializable(typeof(ItemsBody<ProviderBody>))]
[JsonSerializable(typeof(ProviderRequest))]
[JsonSerializable(typeof(ProfileBody))]
[JsonSerializable(typeof(ItemsBody<ProfileBody>))]
[JsonSerializable(typeof(PageBody<ToolCallBody>))]
[JsonSerializable(typeof(PageBody<LlmInteractionBody>))]
[JsonSerializable(typeof(ItemsBody<AdminChangeBody>))]
[JsonSerializable(typeof(UsageBody))]
[JsonSerializable(typeof(ServerBody))]
[JsonSerializable(typeof(ItemsBody<ServerBody>))]
[JsonSerializable(typeof(PolicyBody))]
[JsonSerializable(typeof(ItemsBody<PolicyBody>))]
[JsonSerializable(typeof(PolicyRequest))]
[JsonSerializable(typeof(PolicyEvaluationRequest))]
[JsonSerializable(typeof(PolicyEvaluationBody))]
[JsonSerializable(typeof(ServerStatusBody))]
[JsonSerializable(typeof(ServerLogBody))]
[JsonSerializable(typeof(ServerRequest))]
[JsonSerializable(typeof(ProfileRequest))]
[JsonSerializable(typeof(ToolBody))]
[JsonSerializable(typeof(ItemsBody<ToolBody>))]
[JsonSerializable(typeof(ToolSettingBody))]
[JsonSerializable(typeof(ToolSettingsRequest))]
internal sealed partial class AdminJson : JsonSerializerContext;

internal static class AdminBodies
{
    /// <summary>The JSON names of a request record's properties: the keys its reader accepts.</summary>
    public static string[] Keys(JsonTypeInfo type) => type.Properties.Select(p => p.Name).ToArray();

    /// <summary>Serialises a body with its source-generated serialiser.</summary>
    public static Action<Utf8JsonWriter> Writer<T>(T body, JsonTypeInfo<T> type) => w => JsonSerializer.Serialize(w, body, type);
}
