using System.Buffers;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Http;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Security;
using Archestra.Storage;
using Archestra.Policy.Llm;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Archestra.Gateway.Llm;

/// <summary>What the proxy does with a path under a provider's base URL.</summary>
internal enum LlmEndpoint
{
    Unknown,

    /// <summary>Generates tokens: audited, metered, may stream (chat/completions, responses, messages).</summary>
    Generation,

    /// <summary>Forwarded as it is: model lists, count_tokens.</summary>
    Plain,
}

/// <summary>
/// The OpenAI- and Anthropic-compatible endpoints <c>/v1/openai/{profile}/...</c> and
/// <c>/v1/anthropic/{profile}/...</c>. An SDK changes only its base URL: the path after it is appended to the
/// provider's base URL, the body goes upstream byte for byte (with at most one splice, see
/// <see cref="LlmRequestBody"/>), and the answer comes back as the provider sent it, event by event.
/// </summary>
internal sealed partial class LlmProxy : IDisposable
{
    // 16 KB holds a typical SSE event and a typical JSON answer in one read; grows for bigger events.
    private const int InitialBufferSize = 16 * 1024;

    // An event this large is not an LLM stream we can read; relaying stops rather than growing without bound.
    private const int MaxEventBytes = 16 * 1024 * 1024;

    // Enough of an upstream error body to say what went wrong in the audit row.
    private const int MaxErrorBytes = 1024;

    private static readonly FrozenSet<string> s_requestHeadersNotForwarded = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Host", "Content-Length", "Content-Type", "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade",
        "Proxy-Connection", "Proxy-Authorization", "Expect", "Cookie", "Origin",
        // The proxy reads usage from the answer, so it must arrive uncompressed.
        "Accept-Encoding");

    private static readonly FrozenSet<string> s_responseHeadersNotForwarded = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Proxy-Connection");

    /// <summary>
    /// How old the prices, limits and rules may get before a request triggers a reload in the background. This
    /// process reloads at once when its own admin API changes them; the interval is how long another replica's
    /// change takes to arrive here.
    /// </summary>
    internal static readonly TimeSpan CostsRefreshInterval = TimeSpan.FromSeconds(10);

    private readonly McpGateway _gateway;
    private readonly RequestGuard _guard;
    private readonly ILogger _logger;
    private readonly ArchestraStore? _store;
    private readonly Lock _applyLock = new();
    private readonly SemaphoreSlim _costsLoading = new(1, 1);
    private readonly LlmBudgets _budgets;
    private readonly LlmResilienceMetrics _resilienceMetrics;
    private Snapshot _snapshot = new(FrozenDictionary<string, LlmProfile>.Empty, []);
    private LlmCosts _costs = LlmCosts.Defaults;
    private long _costsLoadedAt = Stopwatch.GetTimestamp();
    private int _costsRefreshing;

    public LlmProxy(McpGateway gateway, RequestGuard guard, ILogger logger, ArchestraStore? store = null)
    {
        _gateway = gateway;
        _guard = guard;
        _logger = logger;
        _store = store;
        _budgets = new LlmBudgets(store, logger);
        Metrics = new LlmMetrics(gateway.Metrics.Meter);
        gateway.Metrics.AddSource(Metrics);
        _resilienceMetrics = new LlmResilienceMetrics(() => Volatile.Read(ref _snapshot).Upstreams.Values);
        gateway.Metrics.AddSource(_resilienceMetrics);
    }

    public LlmMetrics Metrics { get; }

    private sealed record Snapshot(FrozenDictionary<string, LlmProfile> Profiles, Dictionary<string, LlmUpstream> Upstreams);

    /// <summary>Swaps in the providers and profiles of <paramref name="config"/>; unchanged providers keep their connections.</summary>
    public void Apply(GatewayConfig config)
    {
        lock (_applyLock)
        {
            var old = Volatile.Read(ref _snapshot);
            var upstreams = new Dictionary<string, LlmUpstream>(StringComparer.Ordinal);
            foreach (var provider in config.LlmProviders)
            {
                upstreams[provider.Name] = old.Upstreams.TryGetValue(provider.Name, out var existing) && existing.Config == provider
                    ? existing
                    : new LlmUpstream(provider, _resilienceMetrics, _logger);
            }

            var profiles = new Dictionary<string, LlmProfile>(StringComparer.Ordinal);
            foreach (var profile in config.Profiles)
            {
                if (profile.Llm is not { } llm)
                {
                    continue;
                }

                var openAi = llm.OpenAi is { } o ? upstreams.GetValueOrDefault(o) : null;
                var anthropic = llm.Anthropic is { } a ? upstreams.GetValueOrDefault(a) : null;
                var built = new LlmProfile(profile.Name, llm, openAi, anthropic);
                if (built.Open)
                {
                    Log.OpenLlmProfile(_logger, profile.Name);
                }

                profiles[profile.Name] = built;
            }

            Volatile.Write(ref _snapshot, new Snapshot(profiles.ToFrozenDictionary(StringComparer.Ordinal), upstreams));
            foreach (var (name, upstream) in old.Upstreams)
            {
                if (!upstreams.TryGetValue(name, out var kept) || !ReferenceEquals(kept, upstream))
                {
                    // Requests already sent on it finish first: they are bounded by the provider's timeout.
                    _ = DisposeLaterAsync(upstream);
                }
            }
        }
    }

    /// <summary>The prices, limits and rules in force.</summary>
    internal LlmCosts Costs => Volatile.Read(ref _costs);

    /// <summary>
    /// Reads prices, limits and rules from the database and swaps them in; on failure the previous ones stay. Loads
    /// are serialised, so the last one started is the one left in force.
    /// </summary>
    public async Task ReloadCostsAsync(CancellationToken cancellationToken)
    {
        if (_store is null)
        {
            return;
        }

        await _costsLoading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var costs = await LlmCosts.LoadAsync(_store, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _costs, costs);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.CostsNotLoaded(_logger, e);
        }
        finally
        {
            Volatile.Write(ref _costsLoadedAt, Stopwatch.GetTimestamp());
            _costsLoading.Release();
        }
    }

    /// <summary>The costs in force; starts a background reload when they are older than <see cref="CostsRefreshInterval"/>.</summary>
    private LlmCosts CurrentCosts()
    {
        if (_store is not null && Stopwatch.GetElapsedTime(Volatile.Read(ref _costsLoadedAt)) > CostsRefreshInterval
            && Interlocked.Exchange(ref _costsRefreshing, 1) == 0)
        {
            _ = RefreshCostsAsync();
        }

        return Volatile.Read(ref _costs);
    }

    private async Task RefreshCostsAsync()
    {
        try
        {
            await ReloadCostsAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _costsRefreshing, 0);
        }
    }

    private static async Task DisposeLaterAsync(LlmUpstream upstream)
    {
        await Task.Delay(upstream.Config.Timeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        upstream.Dispose();
    }

    public Task HandleOpenAiAsync(HttpContext context) => HandleAsync(context, LlmProviderKind.OpenAi);

    public Task HandleAnthropicAsync(HttpContext context) => HandleAsync(context, LlmProviderKind.Anthropic);

    private async Task HandleAsync(HttpContext context, LlmProviderKind kind)
    {
        var start = Stopwatch.GetTimestamp();
        var request = context.Request;
        var profileName = request.RouteValues["profile"] as string ?? "";
        var rest = request.RouteValues["rest"] as string ?? "";
        var snapshot = Volatile.Read(ref _snapshot);
        if (!snapshot.Profiles.TryGetValue(profileName, out var profile))
        {
            await LlmErrors.WriteAsync(context, kind, LlmError.UnknownProfile, $"Unknown LLM profile '{profileName}'.").ConfigureAwait(false);
            return;
        }

        if (profile.For(kind) is not { } upstream)
        {
            await LlmErrors.WriteAsync(context, kind, LlmError.NotOffered,
                $"Profile '{profileName}' has no {(kind == LlmProviderKind.OpenAi ? "openai" : "anthropic")} provider (profiles.{profileName}.llm).").ConfigureAwait(false);
            return;
        }

        if (_guard.CheckOrigin(context) != GuardVerdict.Allowed)
        {
            await LlmErrors.WriteAsync(context, kind, LlmError.ForbiddenOrigin,
                "This Origin or Host is not allowed; see security.allowedOrigins and security.allowedHosts.").ConfigureAwait(false);
            return;
        }

        var endpoint = Resolve(kind, rest, request.Method, out var methodOk);
        if (endpoint == LlmEndpoint.Unknown)
        {
            await LlmErrors.WriteAsync(context, kind, methodOk ? LlmError.UnknownEndpoint : LlmError.MethodNotAllowed,
                $"Invalid URL ({request.Method} /{rest}): the proxy serves {(kind == LlmProviderKind.OpenAi ? "POST /chat/completions, POST /responses, GET /models" : "POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models")}.").ConfigureAwait(false);
            return;
        }

        if (!profile.PassThrough && !profile.Open && !profile.AcceptsKey(ClientKey(request, kind)))
        {
            if (endpoint == LlmEndpoint.Generation)
            {
                Metrics.Record(profile.Name, upstream.Name, "_unknown", "unauthorized", Stopwatch.GetElapsedTime(start).TotalSeconds, null, default);
            }

            await LlmErrors.WriteAsync(context, kind, LlmError.Unauthorized,
                kind == LlmProviderKind.OpenAi
                    ? $"Incorrect API key provided for profile '{profile.Name}': use one of its virtual keys as the API key."
                    : $"invalid x-api-key for profile '{profile.Name}': use one of its virtual keys as the API key.").ConfigureAwait(false);
            return;
        }

        var exchange = new Exchange(context, kind, profile, upstream, endpoint, start);
        try
        {
            await exchange.RunAsync(this).ConfigureAwait(false);
        }
        finally
        {
            exchange.Dispose();
        }

        if (endpoint == LlmEndpoint.Generation)
        {
            Record(exchange);
        }
    }

    private void Record(Exchange x) =>
        Record(new Interaction(x.Profile.Name, x.Upstream.Name, x.Kind, x.Body.Model ?? "", x.RoutedModel, x.Scanner, x.Forwarded, x.Status, x.Error, x.Start, x.FirstToken, x.Guard));

    /// <summary>One generation request as the metrics, the budgets and the audit row see it.</summary>
    private readonly record struct Interaction(string Profile, string Provider, LlmProviderKind Kind, string Model, string? RoutedModel,
        LlmJsonScanner Scanner, bool Forwarded, string Status, string? Error, long Start, long? FirstToken, LlmToolGuard? Guard = null);

    private void Record(in Interaction x)
    {
        var elapsed = Stopwatch.GetElapsedTime(x.Start);
        double? ttft = x.FirstToken is { } t ? Stopwatch.GetElapsedTime(x.Start, t).TotalSeconds : null;
        var usage = x.Scanner.Usage;
        var model = x.Model;
        Metrics.Record(x.Profile, x.Provider, model, x.Status, elapsed.TotalSeconds, ttft, usage);
        if (x.Guard is { Refused.Count: > 0 } guard)
        {
            Metrics.RecordBlockedTools(x.Profile, x.Provider, model, guard.Refused.Count);
            Log.ToolCallsBlocked(_logger, x.Profile, x.Provider, string.Join(", ", guard.Refused));
        }

        // Not forwarded: nothing was billed. Forwarded without reported usage: unknown (null). With usage, a model
        // the table cannot price is counted.
        decimal? cost = x.Forwarded ? null : 0m;
        if (usage.Seen)
        {
            var billed = LlmCosts.ToUsage(x.Kind, usage);
            var prices = CurrentCosts().Prices;
            var forwarded = x.RoutedModel ?? model;
            cost = prices.Cost(x.Scanner.Model ?? forwarded, billed) ?? (x.Scanner.Model is null ? null : prices.Cost(forwarded, billed));
            Metrics.RecordCost(x.Profile, x.Provider, model, cost);
            _budgets.Add(x.Profile, usage.TotalInput + usage.Output, cost);
        }

        _gateway.Audit?.Enqueue(new LlmInteractionRecord
        {
            Profile = x.Profile,
            Provider = x.Provider,
            RequestedModel = model,
            UsedModel = x.Scanner.Model ?? x.RoutedModel,
            InputTokens = usage.TotalInput,
            OutputTokens = usage.Output,
            CachedInputTokens = usage.Cached,
            ReasoningTokens = usage.Reasoning,
            Cost = cost,
            DurationMicroseconds = (long)elapsed.TotalMicroseconds,
            TimeToFirstTokenMicroseconds = x.FirstToken is { } f ? (long)Stopwatch.GetElapsedTime(x.Start, f).TotalMicroseconds : null,
            Status = x.Status,
            Error = x.Error ?? x.Guard?.AuditText(),
        });
    }

    private static LlmEndpoint Resolve(LlmProviderKind kind, string rest, string method, out bool methodOk)
    {
        var post = HttpMethods.IsPost(method);
        var get = HttpMethods.IsGet(method);
        methodOk = true;
        if (kind == LlmProviderKind.OpenAi)
        {
            if (rest is "chat/completions" or "responses")
            {
                methodOk = post;
                return post ? LlmEndpoint.Generation : LlmEndpoint.Unknown;
            }

            if (rest == "models" || (rest.StartsWith("models/", StringComparison.Ordinal) && rest.IndexOf('/', 7) < 0))
            {
                methodOk = get;
                return get ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
            }
        }
        else
        {
            if (rest == "v1/messages")
            {
                methodOk = post;
                return post ? LlmEndpoint.Generation : LlmEndpoint.Unknown;
            }

            if (rest == "v1/messages/count_tokens")
            {
                methodOk = post;
                return post ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
            }

            if (rest == "v1/models" || (rest.StartsWith("v1/models/", StringComparison.Ordinal) && rest.IndexOf('/', 10) < 0))
            {
                methodOk = get;
                return get ? LlmEndpoint.Plain : LlmEndpoint.Unknown;
            }
        }

        return LlmEndpoint.Unknown;
    }

    /// <summary>The key the SDK sent: OpenAI's <c>Authorization: Bearer</c>; Anthropic's <c>x-api-key</c> (or a bearer token).</summary>
    private static ReadOnlySpan<char> ClientKey(HttpRequest request, LlmProviderKind kind)
    {
        if (kind == LlmProviderKind.Anthropic && request.Headers.TryGetValue("x-api-key", out var apiKey) && apiKey.Count == 1)
        {
            return apiKey[0].AsSpan().Trim();
        }

        var authorization = request.Headers.Authorization;
        if (authorization.Count != 1)
        {
            return default;
        }

        var value = authorization[0].AsSpan();
        return value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value[7..].Trim() : default;
    }

    public void Dispose()
    {
        foreach (var upstream in Volatile.Read(ref _snapshot).Upstreams.Values)
        {
            upstream.Dispose();
        }
    }

    /// <summary>One request through the proxy: its state from the body to the audit row.</summary>
    private sealed partial class Exchange : IDisposable
    {
        private byte[]? _body;
        private int _length;

        public Exchange(HttpContext context, LlmProviderKind kind, LlmProfile profile, LlmUpstream upstream, LlmEndpoint endpoint, long start)
        {
            Context = context;
            Kind = kind;
            Profile = profile;
            Upstream = upstream;
            Endpoint = endpoint;
            Start = start;
        }

        public HttpContext Context { get; }
        public LlmProviderKind Kind { get; }
        public LlmProfile Profile { get; }
        public LlmUpstream Upstream { get; }
        public LlmEndpoint Endpoint { get; }
        public long Start { get; }
        public LlmRequestBody Body { get; private set; }
        public LlmJsonScanner Scanner { get; } = new();
        public string Status { get; private set; } = "ok";
        public string? Error { get; private set; }
        public long? FirstToken { get; private set; }

        /// <summary>The model an optimization rule sent the request to instead of the requested one; null when none did.</summary>
        public string? RoutedModel { get; private set; }

        /// <summary>The request was handed to the upstream (so it may have been billed).</summary>
        public bool Forwarded { get; private set; }

        private CancellationToken Aborted => Context.RequestAborted;

        public async Task RunAsync(LlmProxy proxy)
        {
            var request = Context.Request;
            if (HttpMethods.IsPost(request.Method) && !await ReadBodyAsync(proxy).ConfigureAwait(false))
            {
                return;
            }

            if (Endpoint == LlmEndpoint.Generation)
            {
                if (!await WithinBudgetAsync(proxy).ConfigureAwait(false))
                {
                    return;
                }

                // The history's results are judged on the client's bytes, then rewritten (withheld, sanitized, TOON).
                if (!await EvaluateConversationAsync(proxy).ConfigureAwait(false) || !await RewriteResultsAsync(proxy).ConfigureAwait(false))
                {
                    return;
                }

                ApplyRules(proxy);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
            timeout.CancelAfter(Upstream.Config.Timeout);
            var response = await SendAsync(proxy, timeout.Token).ConfigureAwait(false);
            if (response is null)
            {
                return;
            }

            using (response)
            {
                await RelayAsync(proxy, response, timeout).ConfigureAwait(false);
            }

            NoteRetries();
        }

        private async Task<bool> ReadBodyAsync(LlmProxy proxy)
        {
            var limit = proxy._gateway.Config.Limits.MaxRequestBodyBytes;
            bool tooLarge;
            try
            {
                (_body, _length, tooLarge) = await RequestBody.ReadAsync(Context.Request.BodyReader, Context.Request.ContentLength, limit, Aborted).ConfigureAwait(false);
            }
            catch (BadHttpRequestException ex)
            {
                if (RequestBodyFailure.Describe(Context, ex, "limits.maxRequestBodyBytes") is not { } failure)
                {
                    Status = "client_cancelled";
                    return false;
                }

                var kind = failure.Status switch
                {
                    StatusCodes.Status408RequestTimeout => LlmError.RequestTimeout,
                    StatusCodes.Status413PayloadTooLarge => LlmError.TooLarge,
                    _ => LlmError.BadRequest,
                };
                await FailAsync(kind, failure.Message).ConfigureAwait(false);
                return false;
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                Status = "client_cancelled";
                return false;
            }

            if (tooLarge)
            {
                await FailAsync(LlmError.TooLarge, $"The request body exceeds the limit of {limit} bytes (limits.maxRequestBodyBytes).").ConfigureAwait(false);
                return false;
            }

            if (!LlmRequestBody.TryParse(_body.AsSpan(0, _length), WantsUsage, out var parsed, out var error))
            {
                await FailAsync(LlmError.BadRequest, $"Invalid request: {error}.").ConfigureAwait(false);
                return false;
            }

            Body = parsed;
            return true;
        }

        /// <summary>Refuses the request (429 in the provider's format, naming the limit) when a limit of the profile is used up.</summary>
        private async Task<bool> WithinBudgetAsync(LlmProxy proxy)
        {
            LimitCheck check;
            try
            {
                check = await proxy._budgets.CheckAsync(Profile.Name, proxy.CurrentCosts().Limits, Aborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Status = "client_cancelled";
                return false;
            }

            if (check.Allowed)
            {
                return true;
            }

            await FailAsync(LlmError.BudgetExceeded, $"Budget exceeded: {check.Message}.").ConfigureAwait(false);
            return false;
        }

        /// <summary>
        /// The first matching optimization rule's target replaces the <c>model</c> value upstream. The input size is
        /// the body's length in bytes: the messages dominate it, and <see cref="TokenEstimate"/> is an estimate anyway.
        /// </summary>
        private void ApplyRules(LlmProxy proxy)
        {
            if (Body.Model is not { } requested || Body.ModelAt < 0)
            {
                return;
            }

            var facts = new RequestFacts(requested, _length, Body.HasTools);
            if (proxy.CurrentCosts().Rules.Choose(Profile.Name, facts) is { } target && target != requested)
            {
                Body = Body.WithModel(target);
                RoutedModel = target;
            }
        }

        private async Task FailAsync(LlmError error, string message)
        {
            Status = LlmErrors.StatusLabel(error);
            Error = message;
            await LlmErrors.WriteAsync(Context, Kind, error, message).ConfigureAwait(false);
        }

        private HttpRequestMessage BuildRequest(string? key)
        {
            var request = Context.Request;
            var url = string.Concat(Upstream.BaseUrl, "/", request.RouteValues["rest"] as string, request.QueryString.Value);
            var method = HttpMethods.IsPost(request.Method) ? HttpMethod.Post : HttpMethods.IsGet(request.Method) ? HttpMethod.Get : new HttpMethod(request.Method);
            var message = new HttpRequestMessage(method, url);
            if (_body is not null)
            {
                message.Content = new LlmRequestContent(_body.AsMemory(0, _length), Body, request.ContentType);
            }

            foreach (var (name, values) in request.Headers)
            {
                if (s_requestHeadersNotForwarded.Contains(name) || name.StartsWith(':')
                    || (!Profile.PassThrough && (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("x-api-key", StringComparison.OrdinalIgnoreCase))))
                {
                    continue;
                }

                if (values.Count == 1)
                {
                    message.Headers.TryAddWithoutValidation(name, values[0]);
                }
                else
                {
                    message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }

            if (key is not null)
            {
                if (Kind == LlmProviderKind.OpenAi)
                {
                    message.Headers.TryAddWithoutValidation("Authorization", string.Concat("Bearer ", key));
                }
                else
                {
                    message.Headers.TryAddWithoutValidation("x-api-key", key);
                }
            }

            return message;
        }

        private async Task RelayAsync(LlmProxy proxy, HttpResponseMessage upstream, CancellationTokenSource timeout)
        {
            var response = Context.Response;
            var ok = upstream.IsSuccessStatusCode;
            var sse = upstream.Content.Headers.ContentType?.MediaType is "text/event-stream";
            response.StatusCode = (int)upstream.StatusCode;
            CopyHeaders(upstream.Headers, response, sse);
            CopyHeaders(upstream.Content.Headers, response, sse);
            if (!ok)
            {
                Status = ((int)upstream.StatusCode).ToString(CultureInfo.InvariantCulture);
            }

            try
            {
                var stream = await upstream.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                if (ok && sse)
                {
                    Context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                    await response.StartAsync(timeout.Token).ConfigureAwait(false);
                    await RelayEventsAsync(stream, response.BodyWriter, timeout.Token).ConfigureAwait(false);
                }
                else if (ok && Guard is not null)
                {
                    await RelayGuardedBodyAsync(stream, response, timeout.Token).ConfigureAwait(false);
                }
                else
                {
                    await RelayBodyAsync(stream, response.BodyWriter, ok, timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or InvalidDataException)
            {
                if (Aborted.IsCancellationRequested)
                {
                    Status = "client_cancelled";
                    return;
                }

                Status = ex is OperationCanceledException ? "timeout" : "stream_cut";
                Error = ex is OperationCanceledException
                    ? $"the answer did not finish within {Upstream.Config.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"
                    : $"the upstream answer broke off: {HttpFailure.Describe(ex)}";
                Log.StreamCut(proxy._logger, Upstream.Name, Error);
                await EndBrokenAnswerAsync(sse && ok).ConfigureAwait(false);
            }
        }

        /// <summary>
        /// Ends an answer whose upstream broke after the status went out: Anthropic streams get the documented
        /// <c>error</c> event (SDKs raise it); everything else is aborted, so the client cannot take a cut answer
        /// for a whole one.
        /// </summary>
        private async Task EndBrokenAnswerAsync(bool stream)
        {
            if (stream && Kind == LlmProviderKind.Anthropic)
            {
                try
                {
                    Context.Response.BodyWriter.Write(LlmErrors.AnthropicStreamCut);
                    await Context.Response.BodyWriter.FlushAsync(Aborted).ConfigureAwait(false);
                    return;
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                    // Fall through to the abort.
                }
            }

            Context.Abort();
        }

        private static void CopyHeaders(System.Net.Http.Headers.HttpHeaders from, HttpResponse to, bool sse)
        {
            foreach (var (name, values) in from.NonValidated)
            {
                if (s_responseHeadersNotForwarded.Contains(name) || (sse && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                if (values.Count == 1)
                {
                    to.Headers[name] = values.ToString();
                }
                else
                {
                    var array = new string[values.Count];
                    var i = 0;
                    foreach (var value in values)
                    {
                        array[i++] = value;
                    }

                    to.Headers[name] = new StringValues(array);
                }
            }
        }

        /// <summary>A JSON answer (or an error body): copied chunk by chunk while the scanner reads usage on the way.</summary>
        private async Task RelayBodyAsync(Stream upstream, System.IO.Pipelines.PipeWriter output, bool ok, CancellationToken cancellationToken)
        {
            var buffer = BytePool.Rent(InitialBufferSize);
            var errorLength = 0;
            byte[]? errorBytes = ok ? null : BytePool.Rent(MaxErrorBytes);
            try
            {
                while (true)
                {
                    var n = await upstream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    var chunk = buffer.AsSpan(0, n);
                    if (ok)
                    {
                        Scanner.Feed(chunk, final: false);
                    }
                    else if (errorLength < MaxErrorBytes)
                    {
                        var take = Math.Min(n, MaxErrorBytes - errorLength);
                        chunk[..take].CopyTo(errorBytes.AsSpan(errorLength));
                        errorLength += take;
                    }

                    await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                }

                if (ok)
                {
                    Scanner.Feed([], final: true);
                }
                else
                {
                    Error = AuditText.Truncate(errorBytes.AsSpan(0, errorLength), MaxErrorBytes);
                }
            }
            finally
            {
                BytePool.Return(buffer);
                if (errorBytes is not null)
                {
                    BytePool.Return(errorBytes);
                }
            }
        }

        /// <summary>
        /// An SSE answer: each complete event (up to its blank line) is inspected and relayed as the provider wrote
        /// it. The events that arrived in one read are flushed together, right away: flushing each separately
        /// would send the same bytes at the same moment in more packets.
        /// </summary>
        private async Task RelayEventsAsync(Stream upstream, System.IO.Pipelines.PipeWriter output, CancellationToken cancellationToken)
        {
            var buffer = BytePool.Rent(InitialBufferSize);
            var end = 0;
            var scanFrom = 0;
            var finished = false;
            try
            {
                while (true)
                {
                    if (end == buffer.Length)
                    {
                        buffer = Grow(buffer, "an SSE event");
                    }

                    var n = await upstream.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    end += n;
                    var pos = 0;
                    var wrote = false;
                    int eventEnd;
                    while ((eventEnd = SseFraming.FindEventEnd(buffer.AsSpan(0, end), scanFrom)) > 0)
                    {
                        var evt = buffer.AsSpan(pos, eventEnd - pos);
                        if (Inspect(evt, ref finished, out var cutStart, out var cutEnd))
                        {
                            if (Guard is not null)
                            {
                                RelayGuarded(evt, cutStart, cutEnd, output);
                            }
                            else if (cutStart < 0)
                            {
                                output.Write(evt);
                            }
                            else
                            {
                                output.Write(evt[..cutStart]);
                                output.Write(evt[cutEnd..]);
                            }

                            wrote = true;
                        }

                        pos = scanFrom = eventEnd;
                    }

                    if (wrote)
                    {
                        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }

                    if (pos > 0)
                    {
                        buffer.AsSpan(pos, end - pos).CopyTo(buffer);
                        end -= pos;
                    }

                    // Resume the search just before the unscanned tail, so a blank line split across reads is found.
                    scanFrom = Math.Max(0, end - 2);
                }
            }
            finally
            {
                BytePool.Return(buffer);
            }

            if (!finished)
            {
                throw new IOException(Kind == LlmProviderKind.OpenAi ? "the stream ended without data: [DONE]" : "the stream ended without its final event");
            }
        }

        /// <summary>
        /// Reads one event; false when the client must not see it (the usage chunk the proxy asked for). A range
        /// in <paramref name="cutStart"/>..<paramref name="cutEnd"/> (else -1) is left out of what the client sees:
        /// the <c>"usage":null</c> OpenAI adds to every chunk once usage was asked for.
        /// </summary>
        private bool Inspect(ReadOnlySpan<byte> evt, ref bool finished, out int cutStart, out int cutEnd)
        {
            cutStart = cutEnd = -1;
            var data = SseFraming.Data(evt, out var multiLine, out var dataOffset);
            if (data.IsEmpty)
            {
                return true;
            }

            if (Kind == LlmProviderKind.OpenAi && data.SequenceEqual("[DONE]"u8))
            {
                finished = true;
                return true;
            }

            if (multiLine)
            {
                // Several data lines join with LF (WHATWG SSE); providers send one line, so this path is cold.
                var joined = SseFraming.JoinData(evt);
                Scanner.ScanDocument(joined);
            }
            else
            {
                Scanner.ScanDocument(data);
            }

            switch (Scanner.EventType)
            {
                case LlmEventType.End:
                    finished = true;
                    break;
                case LlmEventType.Error:
                    // The provider reported the failure in the stream (Anthropic's error event, Responses' response.failed,
                    // documented as the last event) and the client has it: the stream ends there by design, so it is
                    // neither cut nor to be closed with the proxy's own error event after the provider's.
                    Status = "upstream_error";
                    Error ??= AuditText.Truncate(data, MaxErrorBytes);
                    finished = true;
                    break;
            }

            var token = Kind == LlmProviderKind.OpenAi && Scanner.ChoicesSeen ? Scanner.ChoicesCount > 0 : Scanner.EventType == LlmEventType.Token;
            if (token && FirstToken is null)
            {
                FirstToken = Stopwatch.GetTimestamp();
            }

            if (!Body.InjectedUsage)
            {
                return true;
            }

            // The chunk the client did not ask for: "choices": [] with the usage (OpenAI API reference, stream_options).
            if (Scanner.ChoicesSeen && Scanner.ChoicesCount == 0 && Scanner.UsageSeenInDocument)
            {
                return false;
            }

            if (Scanner.UsageNullStart >= 0 && !multiLine)
            {
                (cutStart, cutEnd) = UsageNullRange(data, Scanner.UsageNullStart, Scanner.UsageNullEnd);
                cutStart += dataOffset;
                cutEnd += dataOffset;
            }

            return true;
        }

        /// <summary><c>"usage":null</c> with the comma that joins it to a neighbour, so the rest stays valid JSON.</summary>
        private static (int Start, int End) UsageNullRange(ReadOnlySpan<byte> json, int start, int end)
        {
            var before = start - 1;
            while (before > 0 && json[before] is (byte)' ' or (byte)'\t')
            {
                before--;
            }

            if (json[before] == (byte)',')
            {
                return (before, end);
            }

            var after = end;
            while (after < json.Length && json[after] is (byte)' ' or (byte)'\t')
            {
                after++;
            }

            return after < json.Length && json[after] == (byte)',' ? (start, after + 1) : (start, end);
        }

        public void Dispose()
        {
            _request?.Dispose();
            Scanner.Dispose();
            if (_body is not null)
            {
                BytePool.Return(_body);
                _body = null;
            }
        }
    }
}
