using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Security;
using Archestra.Runtime.Diagnostics;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>What the admin API works with: the server (its file configuration and ApplyAsync), the store and the running gateway.</summary>
/// <param name="Server">
/// <see cref="GatewayServer.FileConfig"/> is the file's configuration (file-managed resources, read-only through the API);
/// set <see cref="GatewayServer.Effective"/> to merge the database's resources into it, and call
/// <see cref="GatewayServer.ApplyAsync"/> (with null) after a change so the running gateway picks it up.
/// </param>
internal sealed record AdminContext(GatewayServer Server, ArchestraStore Store, AuditWriter Audit, McpGateway Gateway, ILoggerFactory LoggerFactory);

/// <summary>Who is calling: the admin key's name (recorded as the actor of changes) and whether it may write.</summary>
internal sealed record Caller(string Name, bool CanWrite);

/// <summary>One admin route; the same table maps the endpoints and writes the OpenAPI document, so they cannot drift.</summary>
/// <param name="Public">Served without an admin key.</param>
/// <param name="Query">Query parameters, for the OpenAPI document.</param>
/// <param name="Body">Whether it takes a JSON body.</param>
internal sealed record AdminRoute(
    string Method,
    string Pattern,
    string Tag,
    string Summary,
    Func<HttpContext, Caller, Task<AdminResult>> Handler,
    bool Public = false,
    string[]? Query = null,
    bool Body = false
)
{
    public bool Write => Method != "GET" && !ChangesNothing;

    /// <summary>A POST that only computes an answer (a read-only key may call it).</summary>
    public bool ChangesNothing { get; init; }

    /// <summary>The request body's record: the OpenAPI document's schema for it (null: any object).</summary>
    public JsonTypeInfo? Request { get; init; }

    /// <summary>The success body's record: the OpenAPI document's schema for it (null: any object).</summary>
    public JsonTypeInfo? Response { get; init; }
}

/// <summary>The admin REST API on the admin listener (<c>/api/...</c>).</summary>
internal static class AdminApi
{
    /// <summary>Prefix of generated admin keys (so secret scanners and people recognise them).</summary>
    public const string KeyPrefix = "arc_admin_";

    /// <summary>Prefix of generated gateway tokens.</summary>
    public const string TokenPrefix = "arc_";

    public static void Map(WebApplication app, AdminContext context)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(context);
        var handlers = new AdminHandlers(context);
        context.Server.Effective = handlers.EffectiveAsync;
        foreach (var route in handlers.Routes)
        {
            app.MapMethods(route.Pattern, [route.Method], http => handlers.HandleAsync(http, route));
        }
    }

    /// <summary>
    /// The gateway listener's Origin and Host checks, on every request to the admin listener: without them a web
    /// page could read <c>/api/status</c> (served without a key) through DNS rebinding, and a browser-based console
    /// would be open to the same. Refusals are problem+json 403, like the API's other refusals.
    /// </summary>
    public static Task GuardAsync(RequestGuard guard, HttpContext http, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(guard);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(next);
        var verdict = guard.CheckOrigin(http);
        return verdict == GuardVerdict.Allowed
            ? next(http)
            : AdminResult.Problem(StatusCodes.Status403Forbidden, RequestGuard.Refusal(http, verdict)).WriteAsync(http);
    }

    /// <summary>
    /// At start: creates and prints a read-write admin key when neither the file nor the database has one, and
    /// applies the database's resources when there are any. Call after the gateway started its file servers.
    /// </summary>
    public static async Task StartAsync(AdminContext context, TextWriter output, CancellationToken ct)
    {
        var keys = await context.Store.AdminKeys.ListAsync(ct).ConfigureAwait(false);
        if (context.Server.FileConfig.AdminKeys.Count == 0 && keys.Count == 0)
        {
            var key = NewSecret(KeyPrefix);
            var now = DateTime.UtcNow;
            var row = new AdminKeyRow(Guid.CreateVersion7(), "initial", SecretHash.Compute(key), true, ManagedBy.Api, now, null);
            await context.Store.AdminKeys.InsertAsync(row, ct).ConfigureAwait(false);
            await output
                .WriteLineAsync($"archestra: created the initial admin API key (read-write, shown only this once; stored hashed): {key}")
                .ConfigureAwait(false);
            await output
                .WriteLineAsync("archestra: use it as 'Authorization: Bearer <key>' on the admin API; create others with POST /api/admin-keys")
                .ConfigureAwait(false);
        }

        var state = await AdminResources.LoadAsync(context.Store, ct).ConfigureAwait(false);
        if (!state.IsEmpty)
        {
            await context.Server.ApplyAsync(null, ct).ConfigureAwait(false);
        }
    }

    /// <summary>32 random bytes, base64url, after a recognisable prefix.</summary>
    public static string NewSecret(string prefix)
    {
        Span<byte> bytes = stackalloc byte[32];
        RandomNumberGenerator.Fill(bytes);
        return prefix + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}

/// <summary>The handlers; one instance per admin listener. Changes are serialised so validation sees what it writes over.</summary>
internal sealed partial class AdminHandlers
{
    private readonly AdminContext _context;
    private readonly SemaphoreSlim _changing = new(1, 1);

    /// <summary>When this process last wrote each admin key's last_used_at (ticks).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, long> _touched = new();

    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);
    private readonly ILogger _logger;

    public AdminHandlers(AdminContext context)
    {
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("Archestra.Admin");
        Routes = BuildRoutes();
    }

    public IReadOnlyList<AdminRoute> Routes { get; }

    private ArchestraStore Store => _context.Store;

    private McpGateway Gateway => _context.Gateway;

    private GatewayConfig File => _context.Server.FileConfig;

    private static Func<string, string?> GetEnv => Environment.GetEnvironmentVariable;

    private List<AdminRoute> BuildRoutes()
    {
        var routes = new List<AdminRoute>
        {
            new("GET", "/api/openapi.json", "meta", "This document (OpenAPI 3.1)", (http, _) => Task.FromResult(OpenApi()), Public: true),
        };
        AddServerRoutes(routes);
        AddProfileRoutes(routes);
        AddPolicyRoutes(routes);
        AddKeyRoutes(routes);
        AddLlmProviderRoutes(routes);
        AddLlmCostRoutes(routes);
        AddReadRoutes(routes);
        return routes;
    }

    public async Task<GatewayConfig> EffectiveAsync(GatewayConfig file, CancellationToken ct)
    {
        var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
        var (config, errors) = AdminResources.Merge(file, state, GetEnv);
        if (config is not null)
        {
            return config;
        }

        // Validated when written, so only the environment (an env:NAME that is gone) or a file change can break it.
        foreach (var error in errors)
        {
            AdminLog.ResourceInvalid(_logger, error.Kind, error.Name, error.Path, error.Message);
        }

        throw new InvalidOperationException(
            "the API-managed resources do not fit the configuration: " + string.Join("; ", errors.Select(e => $"{e.Kind} {e.Name}: {e.Path}: {e.Message}"))
        );
    }

    public async Task HandleAsync(HttpContext http, AdminRoute route)
    {
        AdminResult result;
        var caller = route.Public ? new Caller("anonymous", false) : await AuthenticateAsync(http).ConfigureAwait(false);
        if (caller is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"archestra-admin\"";
            result = AdminResult.Problem(StatusCodes.Status401Unauthorized, "an admin key is required: Authorization: Bearer <key>");
        }
        else if (route.Write && !caller.CanWrite)
        {
            result = AdminResult.Problem(StatusCodes.Status403Forbidden, $"the admin key '{caller.Name}' is read-only");
        }
        else
        {
            result = await route.Handler(http, caller).ConfigureAwait(false);
        }

        await result.WriteAsync(http).ConfigureAwait(false);
    }

    private async Task<Caller?> AuthenticateAsync(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || header.Length == scheme.Length)
        {
            return null;
        }

        var hash = SecretHash.Compute(header[scheme.Length..].Trim());
        AdminKeyConfig? match = null;

        // Every file key is compared, in constant time, so the time taken says nothing about which one matched.
        foreach (var key in File.AdminKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(key.Hash, hash))
            {
                match = key;
            }
        }

        if (match is not null)
        {
            return new Caller(match.Name, match.CanWrite);
        }

        // The lookup is by the SHA-256 of a high-entropy key: its timing reveals nothing about the key.
        var row = await Store.AdminKeys.FindAsync(hash, http.RequestAborted).ConfigureAwait(false);
        if (row is null)
        {
            return null;
        }

        TouchKey(row);
        return new Caller(row.Name, row.ReadWrite);
    }

    /// <summary>
    /// Sets the key's last_used_at off the request path, at most once per <see cref="TouchInterval"/> per key (and per
    /// process): a busy script would otherwise turn every read into a write.
    /// </summary>
    private void TouchKey(AdminKeyRow row)
    {
        var now = DateTime.UtcNow;
        if (row.LastUsedAt is { } used && now - used < TouchInterval)
        {
            return;
        }

        var previous = _touched.GetOrAdd(row.Id, 0L);
        if (now.Ticks - previous < TouchInterval.Ticks || !_touched.TryUpdate(row.Id, now.Ticks, previous))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await Store.AdminKeys.TouchAsync(row.Id, now, CancellationToken.None).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // The gateway is stopping; the time is a hint, not a record.
            }
            catch (Exception e)
            {
                AdminLog.TouchFailed(_logger, row.Name, e);
            }
        });
    }

    /// <summary>
    /// A change to a resource that shapes the gateway configuration: validates the state after it (the whole merged
    /// configuration, policies compiled), then takes the one path of every change (<see cref="ChangeAsync"/>). Problems in
    /// the changed resource are 422 with their paths; problems it would cause elsewhere are 409. Call with
    /// <see cref="_changing"/> held.
    /// </summary>
    private async Task<AdminResult> CommitAsync(
        Caller caller,
        string action,
        string kind,
        string name,
        ApiState candidate,
        Func<StoreTransaction, Task> write,
        Action<Utf8JsonWriter> details,
        Func<GatewayConfig, AdminResult> success,
        CancellationToken ct
    )
    {
        var (config, errors) = AdminResources.Merge(File, candidate, GetEnv);
        if (config is null)
        {
            var own = new List<FieldError>();
            var other = new List<string>();
            foreach (var error in errors)
            {
                if (error.Kind == kind && error.Name == name && action != "delete")
                {
                    own.Add(new FieldError(error.Path, error.Message));
                }
                else
                {
                    other.Add(error.Kind.Length == 0 ? error.Message : $"{error.Kind} '{error.Name}': {error.Path}: {error.Message}");
                }
            }

            if (other.Count > 0)
            {
                return AdminResult.Conflict($"the change would break other resources: {string.Join("; ", other)}");
            }

            return AdminResult.Invalid(own);
        }

        await ChangeAsync(caller, action, kind, name, write, details, ct, configuration: true).ConfigureAwait(false);
        return success(config);
    }

    /// <summary>
    /// The one path of every change, after its checks: the rows and the change-log row written in one transaction, then
    /// the change applied. A <paramref name="configuration"/> change is applied to the running gateway; a price, limit or
    /// optimization rule is reloaded into the LLM proxy at once (other replicas pick it up within
    /// <see cref="Llm.LlmProxy.CostsRefreshInterval"/>). Call with <see cref="_changing"/> held.
    /// </summary>
    private async Task ChangeAsync(
        Caller caller,
        string action,
        string kind,
        string name,
        Func<StoreTransaction, Task> write,
        Action<Utf8JsonWriter> details,
        CancellationToken ct,
        bool configuration = false
    )
    {
        var change = new AdminChange(Guid.CreateVersion7(), DateTime.UtcNow, caller.Name, action, kind, name, StoredJson.Write(details));
        await Store.TransactAsync(write, change, ct).ConfigureAwait(false);
        if (configuration)
        {
            await _context.Server.ApplyAsync(null, ct).ConfigureAwait(false);
        }
        else if (kind is "llm-price" or "llm-limit" or "llm-optimization-rule")
        {
            await _context.Server.ReloadLlmCostsAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The delete of a resource that shapes the configuration: under the change lock, the row found in the API's state
    /// (else <paramref name="missing"/>), checked (<paramref name="check"/>: a refusal, or null), and the state without it
    /// validated and committed with the row's delete (<see cref="CommitAsync"/>).
    /// </summary>
    private async Task<AdminResult> DeleteConfiguredAsync<TRow>(
        HttpContext http,
        Caller caller,
        string kind,
        string name,
        Repository<TRow> repository,
        Func<ApiState, TRow?> find,
        Func<AdminResult> missing,
        Func<ApiState, TRow, ApiState> without,
        Func<TRow, CancellationToken, Task<AdminResult?>>? check = null
    )
        where TRow : class
    {
        var ct = http.RequestAborted;
        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            if (find(state) is not { } row)
            {
                return missing();
            }

            if (check is not null && await check(row, ct).ConfigureAwait(false) is { } refusal)
            {
                return refusal;
            }

            return await CommitAsync(
                    caller,
                    "delete",
                    kind,
                    name,
                    without(state, row),
                    tx => repository.DeleteAsync(tx, row, ct),
                    NoDetails,
                    _ => AdminResult.NoContent,
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private static void NoDetails(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteEndObject();
    }

    private static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}

internal static partial class AdminLog
{
    [LoggerMessage(1, LogLevel.Error, "API-managed {Kind} '{Name}' is invalid at {Path}: {Message}")]
    public static partial void ResourceInvalid(ILogger logger, string kind, string name, LogText path, LogText message);

    [LoggerMessage(2, LogLevel.Information, "admin change by {Actor}: {Action} {Kind} '{Name}'")]
    public static partial void Changed(ILogger logger, string actor, string action, string kind, string name);

    [LoggerMessage(3, LogLevel.Warning, "could not record the use of admin key '{Name}'")]
    public static partial void TouchFailed(ILogger logger, string name, Exception exception);
}
