using Archestra.Gateway.Configuration;
using Archestra.Gateway.Metrics;
using Archestra.Policy;
using Archestra.Storage;

namespace Archestra.Gateway.Core;

/// <summary>
/// What the MCP endpoint and the LLM proxy share: the configuration in force, the compiled policies, the audit
/// sink and the metrics. Each is one reference swapped whole, so a request reads a value once and keeps that
/// snapshot to its end (readers never lock).
/// </summary>
internal sealed class GatewayState
{
    private GatewayConfig _config;
    private PolicySnapshot _policies;

    public GatewayState(GatewayConfig config, GatewayMetrics metrics)
    {
        _config = config;
        _policies = config.Policies;
        Metrics = metrics;
    }

    /// <summary>The configuration in force (file plus admin-API resources); replaced whole by <see cref="Swap"/>.</summary>
    public GatewayConfig Config => Volatile.Read(ref _config);

    /// <summary>
    /// The compiled policies. A call reads it once and keeps that snapshot to the end, so a reload never mixes two
    /// policy sets in one decision.
    /// </summary>
    public PolicySnapshot Policies => Volatile.Read(ref _policies);

    /// <summary>Where tool calls and LLM interactions are recorded; null when the gateway runs without storage (some tests).</summary>
    public AuditWriter? Audit { get; set; }

    public GatewayMetrics Metrics { get; }

    /// <summary>Answered approval states; the database's once the gateway has storage.</summary>
    public SpentStates SpentStates { get; set; } = new LocalSpentStates();

    /// <summary>Session taints shared with other replicas; null unless the database is PostgreSQL (one process owns SQLite).</summary>
    public SharedTaints? SharedTaints { get; set; }

    public void ApplyPolicies(PolicySnapshot snapshot) => Volatile.Write(ref _policies, snapshot);

    /// <summary>
    /// Makes <paramref name="config"/> and its policies the ones in force. Listen addresses, limits and security keep
    /// their values from start-up: the listeners and the guard were built from them.
    /// </summary>
    public void Swap(GatewayConfig config)
    {
        Volatile.Write(ref _policies, config.Policies);
        var started = Config;
        Volatile.Write(ref _config, config with { Listen = started.Listen, Limits = started.Limits, Security = started.Security });
    }
}
