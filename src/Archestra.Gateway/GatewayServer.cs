using System.Text.Json;
using Archestra.Gateway.Admin;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Core;
using Archestra.Gateway.Llm;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Metrics;
using Archestra.Gateway.Security;
using Archestra.Runtime.Diagnostics;
using Archestra.Runtime.Upstreams;
using Archestra.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Archestra.Gateway;

/// <summary>
/// One gateway process: three Kestrel listeners (gateway, admin, metrics) over shared state. Separate
/// WebApplications keep each port's surface exactly what DESIGN.md lists, with no host-based routing
/// on the hot path.
/// </summary>
internal sealed partial class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _gatewayApp;
    private readonly WebApplication _adminApp;
    private readonly WebApplication _metricsApp;
    private readonly McpGateway _gateway;
    private ArchestraStore? _store;
    private AuditWriter? _audit;
    private ConfigReloader? _reloader;
    private LlmProxy? _llm;
    private Kubernetes.KubernetesRuntime? _kubernetes;
    private LiveRates? _rates;
    private Telemetry.TelemetryHost? _telemetry;
    private volatile bool _ready;

    // Admin changes, file reloads and other replicas' changes each recompute the whole configuration: one at a time.
    private readonly SemaphoreSlim _applying = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _following = Task.CompletedTask;

    private GatewayServer(WebApplication gatewayApp, WebApplication adminApp, WebApplication metricsApp, McpGateway gateway)
    {
        _gatewayApp = gatewayApp;
        _adminApp = adminApp;
        _metricsApp = metricsApp;
        _gateway = gateway;
    }

    public Uri GatewayUrl { get; private set; } = null!;

    public Uri AdminUrl { get; private set; } = null!;

    public Uri MetricsUrl { get; private set; } = null!;

    internal McpGateway Gateway => _gateway;

    /// <summary>The Kubernetes runtime when the configuration has a <c>kubernetes</c> section.</summary>
    internal Kubernetes.KubernetesRuntime? Kubernetes => _kubernetes;

    internal ArchestraStore Store => _store!;

    internal AuditWriter Audit => _audit!;

    /// <summary>The admin listener's services (its EndpointDataSource lists the admin routes).</summary>
    internal IServiceProvider AdminServices => _adminApp.Services;

    /// <summary>Re-reads the LLM prices, limits and optimization rules (after the admin API changed one).</summary>
    internal Task ReloadLlmCostsAsync(CancellationToken cancellationToken) => _llm?.ReloadCostsAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>Reloads the configuration file now (as SIGHUP does); the errors when it is invalid.</summary>
    internal Task<IReadOnlyList<string>> ReloadConfigAsync() =>
        _reloader?.ReloadAsync() ?? Task.FromResult<IReadOnlyList<string>>(["the configuration was not loaded from a file"]);

    private GatewayConfig _fileConfig = null!;

    /// <summary>
    /// Turns the file's configuration into the one the gateway runs (the admin API adds the resources kept in the
    /// database). Identity until the admin API sets it.
    /// </summary>
    internal Func<GatewayConfig, CancellationToken, Task<GatewayConfig>> Effective { get; set; } = static (file, _) => Task.FromResult(file);

    /// <summary>The configuration as the file says, without database resources.</summary>
    internal GatewayConfig FileConfig => Volatile.Read(ref _fileConfig);

    /// <summary>Recomputes the effective configuration (after a file reload or an admin change) and applies it.</summary>
    internal async Task ApplyAsync(GatewayConfig? fileConfig, CancellationToken cancellationToken)
    {
        if (fileConfig is not null)
        {
            Volatile.Write(ref _fileConfig, fileConfig);
        }

        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var effective = await Effective(FileConfig, cancellationToken).ConfigureAwait(false);
            await _gateway.ApplyAsync(effective, cancellationToken).ConfigureAwait(false);
            if (_llm is { } llm)
            {
                llm.Apply(effective);
                await llm.ReloadCostsAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _applying.Release();
        }
    }

    /// <param name="getEnv">Resolves env:NAME on reload; the process environment when null.</param>
    public static async Task<GatewayServer> StartAsync(
        GatewayConfig config,
        CancellationToken cancellationToken,
        Action<ILoggingBuilder>? configureLogging = null,
        Func<string, string?>? getEnv = null
    )
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var telemetryErrors = new List<string>();
        var telemetry = Telemetry.TelemetrySettings.Resolve(config.Telemetry, getEnv, telemetryErrors);
        if (telemetryErrors.Count > 0)
        {
            throw new Telemetry.TelemetryConfigException(telemetryErrors);
        }

        var metrics = new GatewayMetrics();
        var gatewayApp = Build(config.Listen.Gateway, config.Limits, maxRequestBodyBytes: null, configureLogging);
        var loggerFactory = gatewayApp.Services.GetRequiredService<ILoggerFactory>();
        var state = new GatewayState(config, metrics);
        var gateway = new McpGateway(state, loggerFactory);
        var adminApp = Build(config.Listen.Admin, config.Limits, config.Limits.MaxAdminRequestBodyBytes, configureLogging);
        var metricsApp = Build(config.Listen.Metrics, config.Limits, config.Limits.MaxAdminRequestBodyBytes, configureLogging);
        var server = new GatewayServer(gatewayApp, adminApp, metricsApp, gateway);
        server._fileConfig = config;
        server._rates = new LiveRates(metrics.Meter);
        if (telemetry is not null)
        {
            server._telemetry = Telemetry.TelemetryHost.Start(telemetry, getEnv: getEnv);
            if (server._telemetry.Processor is { } exportQueue)
            {
                metrics.AddSource(exportQueue);
            }
        }

        server._store = await ArchestraStore.OpenAsync(StorageOptionsFor(config, getEnv), loggerFactory, cancellationToken).ConfigureAwait(false);
        server._audit = server._store.CreateAuditWriter();
        metrics.AddSource(server._audit.Metrics);
        server._audit.Start();
        state.Audit = server._audit;
        state.SpentStates = new StoredSpentStates(server._store);
        state.SharedTaints = server._store.Dialect == StorageDialect.Postgres ? new SharedTaints(server._store) : null;
        if (config.Kubernetes is { } kubernetes)
        {
            server._kubernetes = new Kubernetes.KubernetesRuntime(kubernetes, gateway, loggerFactory.CreateLogger("Archestra.Kubernetes"));
            metrics.AddSource(server._kubernetes);
        }

        var toolsLogger = loggerFactory.CreateLogger("Archestra.Tools");
        gateway.ToolsDiscovered += (name, list) => _ = server.RecordToolsAsync(name, list, toolsLogger);

        var logger = loggerFactory.CreateLogger("Archestra");
        foreach (var profile in gateway.Profiles.Values)
        {
            if (!profile.RequiresToken)
            {
                Mcp.Log.OpenProfile(logger, profile.Name);
            }
        }

        var guard = new RequestGuard(config.Security);
        var endpoint = new McpEndpoint(gateway, guard);
        var llm = server._llm = new LlmProxy(state, guard, loggerFactory.CreateLogger("Archestra.Llm"), server._store);
        llm.Apply(config);
        await llm.ReloadCostsAsync(cancellationToken).ConfigureAwait(false);
        gatewayApp.MapGet("/healthz", static () => Results.Text("ok\n"));
        gatewayApp.MapGet("/readyz", (HttpContext context) => server.WriteReadiness(context));
        gatewayApp.MapMethods("/v1/mcp/{profile}", ["POST", "GET", "DELETE", "PUT", "PATCH"], endpoint.HandleAsync);

        // The path after an SDK's base URL goes to the provider's base URL; unknown paths get the provider's 404 JSON.
        string[] llmMethods = ["POST", "GET", "DELETE", "PUT", "PATCH"];
        gatewayApp.MapMethods("/v1/openai/{profile}/{**rest}", llmMethods, llm.HandleOpenAiAsync);
        gatewayApp.MapMethods("/v1/anthropic/{profile}/{**rest}", llmMethods, llm.HandleAnthropicAsync);
        gatewayApp.MapMethods("/v1/gemini/{profile}/{**rest}", llmMethods, llm.HandleGeminiAsync);

        adminApp.Use((context, next) => AdminApi.GuardAsync(guard, context, next));
        adminApp.MapGet("/healthz", static () => Results.Text("ok\n"));
        adminApp.MapGet("/api/status", (HttpContext context) => server.WriteStatusAsync(context));
        var adminContext = new AdminContext(server, server._store, server._audit, gateway, loggerFactory);
        AdminApi.Map(adminApp, adminContext);
        WebConsole.ConsoleAssets.Map(adminApp);

        metricsApp.MapMetrics(metrics);

        await gateway.StartAsync(cancellationToken).ConfigureAwait(false);

        // The initial admin key when there is none, and the API-managed servers, profiles and policies.
        await AdminApi.StartAsync(adminContext, Console.Out, cancellationToken).ConfigureAwait(false);

        // After the database's servers joined the configuration: the first pass reconciles all of them.
        server._kubernetes?.Start();
        await gatewayApp.StartAsync(cancellationToken).ConfigureAwait(false);
        await adminApp.StartAsync(cancellationToken).ConfigureAwait(false);
        await metricsApp.StartAsync(cancellationToken).ConfigureAwait(false);
        server.GatewayUrl = Address(gatewayApp);
        server.AdminUrl = Address(adminApp);
        server.MetricsUrl = Address(metricsApp);
        if (config.SourcePath is { } path && File.Exists(path))
        {
            server._reloader = new ConfigReloader(path, getEnv, file => server.ApplyAsync(file, CancellationToken.None), logger, TimeSpan.FromSeconds(2));
        }

        // After the API's resources are applied: a change committed before LISTEN takes effect is re-read then.
        server._following = server._store.ListenAsync(change => server.OnStoreChangeAsync(change, logger), server._stopping.Token);
        server._ready = true;
        return server;
    }

    /// <summary>
    /// Another replica's admin change: prices, limits and rules reload the LLM costs; admin keys are read per request;
    /// everything else (and a fresh start of listening, before which anything may have changed) recomputes the
    /// configuration.
    /// </summary>
    private async Task OnStoreChangeAsync(StoreChange change, ILogger logger)
    {
        try
        {
            switch (change.Kind)
            {
                case "admin-key":
                    break;
                case "llm-price" or "llm-limit" or "llm-optimization-rule":
                    await ReloadLlmCostsAsync(_stopping.Token).ConfigureAwait(false);
                    break;
                default:
                    await ApplyAsync(null, _stopping.Token).ConfigureAwait(false);
                    break;
            }

            LogReplicaChange(logger, change.Kind ?? "everything (listening started)");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            // The listener goes on; the next change (or reconnect) applies the whole state again.
            LogReplicaChangeFailed(logger, change.Kind ?? "everything", ex.Message);
        }
    }

    [LoggerMessage(1202, LogLevel.Debug, "Applied another replica's admin change: {Kind}")]
    private static partial void LogReplicaChange(ILogger logger, string kind);

    [LoggerMessage(1203, LogLevel.Error, "Could not apply another replica's admin change ({Kind}): {Detail}")]
    private static partial void LogReplicaChangeFailed(ILogger logger, string kind, LogText detail);

    /// <summary>Stores a server's tool list (name, description, input schema, first and last seen) off the request path.</summary>
    private async Task RecordToolsAsync(string server, ListSnapshot list, ILogger logger)
    {
        try
        {
            var tools = new List<(string, string?, string)>(list.Items.Length);
            foreach (var item in list.Items)
            {
                var (description, schema) = item.ReadToolInfo();
                tools.Add((item.Key, description, schema));
            }

            await _store!.RecordDiscoveredToolsAsync(server, tools, DateTime.UtcNow).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or JsonException or InvalidOperationException or ObjectDisposedException)
        {
            LogToolsNotRecorded(logger, server, ex.Message);
        }
    }

    [LoggerMessage(1201, LogLevel.Warning, "Could not record the tools of MCP server '{Server}': {Detail}")]
    private static partial void LogToolsNotRecorded(ILogger logger, string server, LogText detail);

    /// <summary>ARCHESTRA_DATABASE_URL wins over the file's <c>database</c>; the secret key only ever comes from the environment.</summary>
    internal static StorageOptions StorageOptionsFor(GatewayConfig config, Func<string, string?> getEnv)
    {
        var storage = config.Storage;
        var url = getEnv("ARCHESTRA_DATABASE_URL");
        return new StorageOptions
        {
            DatabaseUrl = string.IsNullOrWhiteSpace(url) ? storage.Database : url,
            SqlitePath = Path.Combine(storage.DataDirectory, "archestra.db"),
            SpillDirectory = Path.Combine(storage.DataDirectory, "audit-spill"),
            FlushInterval = storage.AuditFlushInterval,
            WriteDeadline = storage.AuditWriteDeadline,
            BatchSize = storage.AuditBatchSize,
            ChannelCapacity = storage.AuditQueueCapacity,
            RetentionDays = storage.AuditRetentionDays,
            MaxArgumentBytes = storage.AuditMaxArgumentBytes,
            SecretKey = getEnv("ARCHESTRA_SECRET_KEY") is { Length: > 0 } key ? key : null,
        };
    }

    /// <param name="maxRequestBodyBytes">Kestrel's body size limit; null where the endpoints enforce their own.</param>
    internal static WebApplication Build(string url, LimitsConfig limits, long? maxRequestBodyBytes, Action<ILoggingBuilder>? configureLogging)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.AddServerHeader = false;

            // The MCP endpoint and the LLM proxy enforce limits.maxRequestBodyBytes themselves, in their own error
            // format; the admin API's limit is Kestrel's, turned into a problem by AdminRequest.
            options.Limits.MaxRequestBodySize = maxRequestBodyBytes;
            options.Limits.MinRequestBodyDataRate = new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.RequestBodyGracePeriod);
        });
        builder.Logging.ClearProviders();
        if (string.Equals(Environment.GetEnvironmentVariable("ARCHESTRA_LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase))
        {
            builder.Logging.AddProvider(Telemetry.JsonLineLoggerProvider.Stdout);
        }
        else
        {
            builder.Logging.AddSimpleConsole(static o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
        }

        builder.Logging.SetMinimumLevel(ParseLevel(Environment.GetEnvironmentVariable("ARCHESTRA_LOG_LEVEL")));
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);

        // With this category enabled ASP.NET Core starts an Activity per request (~2 KB, and a traceparent
        // header leaking upstream); bench/README.md measured 9.1 → 7.1 KB per tools/call without it.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        configureLogging?.Invoke(builder.Logging);
        return builder.Build();
    }

    private static LogLevel ParseLevel(string? value) =>
        value?.ToLowerInvariant() switch
        {
            "trace" => LogLevel.Trace,
            "debug" => LogLevel.Debug,
            "warning" or "warn" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => LogLevel.Information,
        };

    internal static Uri Address(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            return new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        }

        throw new InvalidOperationException("Kestrel reported no listening address.");
    }

    private Task WriteReadiness(HttpContext context)
    {
        context.Response.StatusCode = _ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(_ready ? "ready\n" : "starting\n");
    }

    private async Task WriteStatusAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("version"u8, GatewayInfo.Version);
        w.WriteNumber("sessions"u8, _gateway.Sessions.Count);
        WriteRates(w, _rates?.Read() ?? default, _audit?.Metrics.QueueDepth ?? 0);
        w.WriteStartArray("servers"u8);
        foreach (var entry in _gateway.Entries.Values)
        {
            w.WriteStartObject();
            w.WriteString("name"u8, entry.Name);
            w.WriteString(
                "state"u8,
                entry.Upstream.State switch
                {
                    UpstreamState.Ready => "ready",
                    UpstreamState.Starting => "starting",
                    UpstreamState.Down => "down",
                    _ => "stopped",
                }
            );
            if (entry.Upstream.StateDetail is { } detail && entry.Upstream.State != UpstreamState.Ready)
            {
                w.WriteString("detail"u8, detail);
            }

            w.WriteString("protocolVersion"u8, entry.Upstream.ProtocolVersion);
            w.WriteNumber("inFlight"u8, entry.Upstream.InFlight);
            w.WriteNumber("tools"u8, entry.Cached(ListKind.Tools)?.Items.Length ?? 0);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("profiles"u8);
        foreach (var profile in _gateway.Profiles.Values)
        {
            w.WriteStartObject();
            w.WriteString("name"u8, profile.Name);
            w.WriteString("endpoint"u8, $"/v1/mcp/{profile.Name}");
            w.WriteBoolean("authenticated"u8, profile.RequiresToken);
            w.WriteStartArray("servers"u8);
            foreach (var s in profile.Servers)
            {
                w.WriteStringValue(s.Name);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>The last minute's calls and failures on this gateway (<see cref="LiveRates"/>) and the audit records waiting to be written.</summary>
    private static void WriteRates(Utf8JsonWriter w, LiveRates.Snapshot rates, long auditQueue)
    {
        w.WriteStartObject("rates"u8);
        w.WriteNumber("windowSeconds"u8, LiveRates.WindowSeconds);
        w.WriteNumber("toolCalls"u8, rates.ToolCalls);
        w.WriteNumber("toolCallErrors"u8, rates.ToolCallErrors);
        w.WriteNumber("llmRequests"u8, rates.LlmRequests);
        w.WriteNumber("llmErrors"u8, rates.LlmErrors);
        w.WriteEndObject();
        w.WriteNumber("auditQueue"u8, auditQueue);
    }

    /// <summary>Runs until SIGINT/SIGTERM.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _gatewayApp.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _ready = false;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _following.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_reloader is not null)
        {
            await _reloader.DisposeAsync().ConfigureAwait(false);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _gatewayApp.StopAsync(cts.Token).ConfigureAwait(false);
        await _adminApp.StopAsync(cts.Token).ConfigureAwait(false);
        await _metricsApp.StopAsync(cts.Token).ConfigureAwait(false);
        if (_kubernetes is not null)
        {
            await _kubernetes.DisposeAsync().ConfigureAwait(false);
        }

        await _gateway.DisposeAsync().ConfigureAwait(false);
        _llm?.Dispose();
        _rates?.Dispose();

        // After the listeners stopped, so every call that finished was queued: all of it reaches the database or the spill.
        if (_audit is not null)
        {
            await _audit.DisposeAsync().ConfigureAwait(false);
        }

        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }

        // Last: the spans of everything above are queued by now, and the queue is exported within the exporter's timeout.
        _telemetry?.Dispose();

        await _gatewayApp.DisposeAsync().ConfigureAwait(false);
        await _adminApp.DisposeAsync().ConfigureAwait(false);
        await _metricsApp.DisposeAsync().ConfigureAwait(false);
    }
}

internal static class GatewayHost
{
    public static async Task<int> RunAsync(GatewayConfig config, CancellationToken cancellationToken)
    {
        GatewayServer server;
        try
        {
            server = await GatewayServer.StartAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (Telemetry.TelemetryConfigException ex)
        {
            await Console.Error.WriteLineAsync($"archestra: invalid telemetry settings: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (IOException ex)
        {
            // Kestrel reports a port in use as an IOException.
            await Console.Error.WriteLineAsync($"archestra: cannot listen: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or ArgumentException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"archestra: cannot open the database: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        await using (server.ConfigureAwait(false))
        {
            await Console
                .Out.WriteLineAsync(
                    $"archestra {GatewayInfo.Version}: gateway {server.GatewayUrl} (MCP at /v1/mcp/{{profile}}), admin {server.AdminUrl}, "
                        + $"metrics {server.MetricsUrl}metrics"
                )
                .ConfigureAwait(false);
            await server.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }
}
