using System.Net;
using System.Runtime.ExceptionServices;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Archestra.Runtime.Http;

/// <summary>
/// An MCP server reached over Streamable HTTP (MCP 2025-03-26, 2025-06-18, 2025-11-25, "Transports").
/// Every message is a POST whose answer is JSON or an SSE stream; the session id from initialize and the
/// negotiated protocol version ride on every later request. A background GET stream carries what the
/// server sends outside of requests.
/// </summary>
public sealed class StreamableHttpUpstream : McpUpstream
{
    private const string SessionHeader = McpHeaders.SessionId;
    private const string ProtocolHeader = McpHeaders.ProtocolVersion;
    private const string LastEventIdHeader = McpHeaders.LastEventId;

    // A POST stream the server closes before its answer is resumed with GET + Last-Event-ID (2025-11-25
    // "Resumability and Redelivery"); this bounds how often one request may be resumed.
    private const int MaxResumes = 3;

    private readonly HttpUpstreamOptions _options;
    private readonly HttpMessageInvoker _http;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly ResiliencePipeline<HttpResponseMessage> _breaker;
    private readonly ResiliencePipeline<HttpResponseMessage> _retryingBreaker;
    private readonly SemaphoreSlim _sessionLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    // Set only within a handshake's async flow: its requests use the session being created, not the current one.
    private readonly AsyncLocal<HttpSession?> _handshake = new();
    private volatile HttpSession? _session;
    private CancellationTokenSource? _getStreamStop;
    private Task? _getStream;

    public StreamableHttpUpstream(HttpUpstreamOptions options, IUpstreamListener listener, ILogger logger)
        : base(options, listener, logger)
    {
        _options = options;
        _http = UpstreamHttp.CreateInvoker();
        _headers = UpstreamHttp.Flatten(options.Headers);
        _breaker = BuildBreaker(options);
        _retryingBreaker = BuildRetry(options, _breaker);
    }

    /// <summary>The session id the server assigned, if it uses sessions.</summary>
    public string? SessionId => _session?.Id;

    /// <summary>
    /// Retries wrap the same breaker instance the non-idempotent path uses, so both kinds of call share
    /// one breaker state while tools/call (never retried) skips the retry strategy: measured ~1.4 KB and
    /// five async state machines less per call (bench/README.md, "What the whole gateway allocates").
    /// </summary>
    private static ResiliencePipeline<HttpResponseMessage> BuildRetry(HttpUpstreamOptions options, ResiliencePipeline<HttpResponseMessage> breaker)
    {
        if (options.MaxRetries <= 0)
        {
            return breaker;
        }

        return new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(
                new RetryStrategyOptions<HttpResponseMessage>
                {
                    MaxRetryAttempts = options.MaxRetries,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = options.RetryDelay,
                    ShouldHandle = static args => new ValueTask<bool>(IsTransient(args.Outcome)),
                    DelayGenerator = static args => new ValueTask<TimeSpan?>(RetryAfter(args.Outcome)),
                    // The discarded answer holds a pooled connection until disposed (disposing twice is harmless).
                    OnRetry = static args =>
                    {
                        args.Outcome.Result?.Dispose();
                        return default;
                    },
                }
            )
            .AddPipeline(breaker)
            .Build();
    }

    private static ResiliencePipeline<HttpResponseMessage> BuildBreaker(HttpUpstreamOptions options) =>
        new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(
                new CircuitBreakerStrategyOptions<HttpResponseMessage>
                {
                    FailureRatio = options.BreakerFailureRatio,
                    MinimumThroughput = options.BreakerMinimumThroughput,
                    SamplingDuration = options.BreakerSamplingDuration,
                    BreakDuration = options.BreakerBreakDuration,
                    ShouldHandle = static args => new ValueTask<bool>(IsTransient(args.Outcome)),
                }
            )
            .Build();

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is HttpRequestException || (outcome.Result is { } response && UpstreamHttp.IsRetryable(response.StatusCode));

    private static TimeSpan? RetryAfter(Outcome<HttpResponseMessage> outcome)
    {
        // Honour a short Retry-After (429/503); a long one means "not now", which the retry cannot wait out.
        if (outcome.Result?.Headers.RetryAfter?.Delta is { } delta && delta <= TimeSpan.FromSeconds(10))
        {
            return delta;
        }

        return null;
    }

    protected override async Task SuperviseAsync()
    {
        for (var failures = 1; !_stopping.IsCancellationRequested; failures++)
        {
            UpstreamCallResult result;
            try
            {
                await _sessionLock.WaitAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                result = await InitializeSessionAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                _sessionLock.Release();
            }

            if (result.IsSuccess)
            {
                HttpLog.Ready(Logger, Name, _options.Url, ProtocolVersion);
                SetState(UpstreamState.Ready, null);
                FirstAttemptDone();
                return;
            }

            HttpLog.Down(Logger, Name, result.Detail);
            SetState(UpstreamState.Down, result.Detail);
            FirstAttemptDone();
            var delay = UpstreamHttp.Backoff(_options.RetryDelay, failures);
            HttpLog.ReconnectScheduled(Logger, Name, delay.TotalMilliseconds);
            try
            {
                await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        FirstAttemptDone();
    }

    /// <summary>Runs the handshake as a new session and, when it succeeds, makes that session current. Caller holds the session lock.</summary>
    private async Task<UpstreamCallResult> InitializeSessionAsync(CancellationToken cancellationToken)
    {
        StopGetStream();
        var session = new HttpSession();
        _handshake.Value = session;
        var result = await HandshakeAsync(cancellationToken).ConfigureAwait(false);
        _handshake.Value = null;
        if (result.IsSuccess)
        {
            _session = session;

            // 2026-07-28 has no GET stream (change notifications come through subscriptions/listen).
            if (Era == McpEra.Legacy)
            {
                StartGetStream(session);
            }
        }

        return result;
    }

    protected override void OnInitialized()
    {
        if (_handshake.Value is { } session)
        {
            session.ProtocolVersion = ProtocolVersion;
        }
    }

    /// <summary>Starts a new session after the server forgot <paramref name="expired"/>, unless another call already did.</summary>
    private async ValueTask<UpstreamCallResult> RenewSessionAsync(HttpSession expired, CancellationToken cancellationToken)
    {
        await _sessionLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!ReferenceEquals(_session, expired))
            {
                return default;
            }

            HttpLog.SessionExpired(Logger, Name, expired.Id);
            var result = await InitializeSessionAsync(cancellationToken).ConfigureAwait(false);
            return result.IsSuccess
                ? result
                : UpstreamCallResult.Failure(
                    result.Error,
                    $"MCP server '{Name}' at {_options.Url} ended the session and starting a new one failed: {result.Detail}"
                );
        }
        finally
        {
            _sessionLock.Release();
        }
    }

    protected override ValueTask<UpstreamCallResult> SendRequestCoreAsync(
        ReadOnlyMemory<byte> request,
        PendingCall call,
        bool idempotent,
        CancellationToken cancellationToken
    ) => PostAsync(request, call, idempotent, cancellationToken);

    public override async ValueTask<bool> SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var result = await PostAsync(message, null, idempotent: false, cancellationToken).ConfigureAwait(false);
        if (!result.IsSuccess)
        {
            HttpLog.SendFailed(Logger, Name, result.Detail);
        }

        return result.IsSuccess;
    }

    /// <summary>
    /// POSTs one message. For a request (<paramref name="call"/> not null) returns when its response was
    /// read from the answer; for notifications and responses returns when the server accepted it.
    /// </summary>
    private async ValueTask<UpstreamCallResult> PostAsync(ReadOnlyMemory<byte> body, PendingCall? call, bool idempotent, CancellationToken cancellationToken)
    {
        var handshake = _handshake.Value;
        var session = handshake ?? _session;
        for (var renewed = false; ; renewed = true)
        {
            var (response, failure) = await ExchangeAsync(new Attempt(this, HttpMethod.Post, body, session, null), idempotent, cancellationToken)
                .ConfigureAwait(false);
            if (response is null)
            {
                return failure;
            }

            using (response)
            {
                // 404 to a request carrying a session id: the server ended the session (spec "Session Management").
                if (handshake is null && session?.Id is not null && !renewed && await IsSessionGoneAsync(response, cancellationToken).ConfigureAwait(false))
                {
                    response.Dispose();
                    var renewal = await RenewSessionAsync(session, cancellationToken).ConfigureAwait(false);
                    if (!renewal.IsSuccess)
                    {
                        return renewal;
                    }

                    session = _session;
                    continue;
                }

                return await ReadAnswerAsync(response, call, handshake, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Whether the server no longer knows our session: 404 as the spec says, or the 400 "Bad Request: No
    /// valid session ID provided" that servers built on the TypeScript SDK's example (server-everything
    /// among them) send after a restart. A 400 counts only when its body names the session, so other bad
    /// requests are not retried. The body is buffered (it is small) so it can still be reported after.
    /// </summary>
    private static async ValueTask<bool> IsSessionGoneAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return true;
        }

        if (response.StatusCode != HttpStatusCode.BadRequest)
        {
            return false;
        }

        try
        {
            await response.Content.LoadIntoBufferAsync(4096, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            // Larger than 4 KB: not the short session error, report it as it is.
            return false;
        }

        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return body.AsSpan().IndexOf("session"u8) >= 0 || body.AsSpan().IndexOf("Session"u8) >= 0;
    }

    private async ValueTask<UpstreamCallResult> ReadAnswerAsync(
        HttpResponseMessage response,
        PendingCall? call,
        HttpSession? handshake,
        CancellationToken cancellationToken
    )
    {
        // A modern server mints no session; only initialize's answer may carry one.
        var modern = Era == McpEra.Modern || (call is not null && IsProbe(call));
        if (handshake is not null && handshake.Id is null && !modern && response.Headers.TryGetValues(SessionHeader, out var ids))
        {
            foreach (var id in ids)
            {
                handshake.Id = id;
                break;
            }
        }

        if (!response.IsSuccessStatusCode)
        {
            // A modern server answers refusals (400 validation, 404 unknown method) with a JSON-RPC error body: that is the answer.
            if (modern && call is not null && await ReadErrorAnswerAsync(response, call, cancellationToken).ConfigureAwait(false))
            {
                return Completed(call);
            }

            var detail = await UpstreamHttp.DescribeStatusAsync(Name, _options.Url, response, cancellationToken).ConfigureAwait(false);
            return UpstreamCallResult.Failure(UpstreamError.Protocol, detail);
        }

        if (call is null)
        {
            return default;
        }

        try
        {
            if (UpstreamHttp.IsMediaType(response, "text/event-stream"))
            {
                return await ReadEventStreamAsync(response, call, cancellationToken).ConfigureAwait(false);
            }

            if (response.StatusCode == HttpStatusCode.Accepted || !UpstreamHttp.IsMediaType(response, "application/json"))
            {
                return UpstreamCallResult.Failure(
                    UpstreamError.Protocol,
                    $"MCP server '{Name}' at {_options.Url} answered a request with HTTP {(int)response.StatusCode} and content type "
                        + $"'{response.Content.Headers.ContentType?.MediaType ?? "none"}' instead of JSON or an event stream"
                );
            }

            var body = await UpstreamHttp.ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
            if (UpstreamMessage.TryWrap(body, out var error) is not { } message)
            {
                return UpstreamCallResult.Failure(
                    UpstreamError.Protocol,
                    error == JsonRpcParseError.Ambiguous
                        ? $"MCP server '{Name}' at {_options.Url} answered with JSON the gateway refuses to relay: "
                            + $"{StrictJson.Describe(body, StrictJson.Check(body))}"
                        : $"MCP server '{Name}' at {_options.Url} answered with a body that is not a JSON-RPC message"
                );
            }

            Dispatch(message, call);
            return Completed(call);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException or ObjectDisposedException)
        {
            return UpstreamHttp.Describe(Name, _options.Url, ex);
        }
    }

    /// <summary>Dispatches a JSON-RPC error body that answers <paramref name="call"/>; false (body left readable) for anything else.</summary>
    private async ValueTask<bool> ReadErrorAnswerAsync(HttpResponseMessage response, PendingCall call, CancellationToken cancellationToken)
    {
        if (!UpstreamHttp.IsMediaType(response, "application/json"))
        {
            return false;
        }

        try
        {
            await response.Content.LoadIntoBufferAsync(UpstreamHttp.MaxMessageBytes, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (
                UpstreamMessage.TryWrap(body, out _) is not { Kind: JsonRpcKind.ErrorResponse } message
                || !JsonRpcRewriter.TryParseId(message.Envelope.Id.Of(message.Span), out var id)
                || id != call.Id
            )
            {
                return false;
            }

            Dispatch(message, call);
            return true;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private UpstreamCallResult Completed(PendingCall call) =>
        call.Completion.Task.IsCompleted
            ? call.Completion.Task.Result
            : UpstreamCallResult.Failure(
                UpstreamError.Protocol,
                $"MCP server '{Name}' at {_options.Url} answered request {call.Id} with a message that is not its response"
            );

    private async ValueTask<UpstreamCallResult> ReadEventStreamAsync(HttpResponseMessage response, PendingCall call, CancellationToken cancellationToken)
    {
        string? lastEventId;
        int? retry;
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var events = new SseReader(stream, UpstreamHttp.MaxMessageBytes);
            if (await DispatchEventsAsync(events, call, cancellationToken).ConfigureAwait(false))
            {
                return Completed(call);
            }

            lastEventId = events.LastEventId;
            retry = events.RetryMilliseconds;
        }

        for (var resumes = 0; lastEventId is not null && resumes < MaxResumes; resumes++)
        {
            HttpLog.Resuming(Logger, Name, call.Id, lastEventId);
            if (retry is > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(retry.Value, (int)UpstreamHttp.MaxReconnectDelay.TotalMilliseconds)), cancellationToken)
                    .ConfigureAwait(false);
            }

            var (resumed, failure) = await ExchangeAsync(
                    new Attempt(this, HttpMethod.Get, default, _handshake.Value ?? _session, lastEventId),
                    idempotent: true,
                    cancellationToken
                )
                .ConfigureAwait(false);
            if (resumed is null)
            {
                return failure;
            }

            using (resumed)
            {
                if (!resumed.IsSuccessStatusCode || !UpstreamHttp.IsMediaType(resumed, "text/event-stream"))
                {
                    break;
                }

                var stream2 = await resumed.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using (stream2.ConfigureAwait(false))
                {
                    using var events = new SseReader(stream2, UpstreamHttp.MaxMessageBytes);
                    if (await DispatchEventsAsync(events, call, cancellationToken).ConfigureAwait(false))
                    {
                        return Completed(call);
                    }

                    lastEventId = events.LastEventId ?? lastEventId;
                    retry = events.RetryMilliseconds ?? retry;
                }
            }
        }

        return UpstreamCallResult.Failure(
            UpstreamError.Disconnected,
            $"MCP server '{Name}' at {_options.Url} ended the response stream of request {call.Id} before answering it"
        );
    }

    /// <summary>Dispatches events until the call's response was seen (true) or the stream ends (false).</summary>
    private async ValueTask<bool> DispatchEventsAsync(SseReader events, PendingCall? call, CancellationToken cancellationToken)
    {
        while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!events.IsMessage || events.Data.IsEmpty)
            {
                continue;
            }

            if (UpstreamMessage.TryCreate(events.Data, out var error) is not { } message)
            {
                if (error == JsonRpcParseError.Ambiguous)
                {
                    RefuseAmbiguous(events.Data, call);
                }
                else
                {
                    HttpLog.NotJsonRpc(Logger, Name);
                }

                if (call is not null && call.Completion.Task.IsCompleted)
                {
                    return true;
                }

                continue;
            }

            Dispatch(message, call);
            if (call is not null && call.Completion.Task.IsCompleted)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Sends one request through the resilience pipeline. Either the response or a failure.</summary>
    private async ValueTask<(HttpResponseMessage? Response, UpstreamCallResult Failure)> ExchangeAsync(
        Attempt attempt,
        bool idempotent,
        CancellationToken cancellationToken
    )
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        Outcome<HttpResponseMessage> outcome;
        try
        {
            outcome = await (idempotent ? _retryingBreaker : _breaker)
                .ExecuteOutcomeAsync(static (ctx, state) => state.Upstream.SendOnceAsync(state, ctx.CancellationToken), context, attempt)
                .ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        var exception = outcome.Exception;
        if (exception is null)
        {
            return (outcome.Result, default);
        }

        if (exception is OperationCanceledException)
        {
            ExceptionDispatchInfo.Throw(exception);
        }

        if (exception is BrokenCircuitException broken)
        {
            var retryIn = broken.RetryAfter is { } after ? $"; retrying in {after.TotalSeconds:0.#} s" : string.Empty;
            return (null, UpstreamCallResult.Failure(UpstreamError.Unavailable, $"MCP server '{Name}' at {_options.Url} is failing: circuit open{retryIn}"));
        }

        return (null, UpstreamHttp.Describe(Name, _options.Url, exception));
    }

    private async ValueTask<Outcome<HttpResponseMessage>> SendOnceAsync(Attempt attempt, CancellationToken cancellationToken)
    {
        var request = BuildRequest(attempt.Method, attempt.Body, attempt.Session, attempt.LastEventId);
        try
        {
            return Outcome.FromResult(await _http.SendAsync(request, cancellationToken).ConfigureAwait(false));
        }
#pragma warning disable CA1031 // ExecuteOutcomeAsync requires the callback to return exceptions as outcomes.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            request.Dispose();
            return Outcome.FromException<HttpResponseMessage>(ex);
        }
    }

    private HttpRequestMessage BuildRequest(HttpMethod method, ReadOnlyMemory<byte> body, HttpSession? session, string? lastEventId)
    {
        var request = new HttpRequestMessage(method, _options.Url);
        var headers = request.Headers;
        headers.TryAddWithoutValidation("Accept", method == HttpMethod.Post ? UpstreamHttp.JsonAndEventStream : "text/event-stream");
        UpstreamHttp.AddHeaders(request, _headers);
        if (session?.Id is { } id)
        {
            headers.TryAddWithoutValidation(SessionHeader, id);
        }

        if (session?.ProtocolVersion is { } version)
        {
            headers.TryAddWithoutValidation(ProtocolHeader, version);
        }

        if (
            method == HttpMethod.Post
            && (Era == McpEra.Modern || session?.ProtocolVersion is null)
            && ModernEnvelope.RoutingHeaders(body.Span) is var (mcpMethod, mcpName)
            && (Era == McpEra.Modern || mcpMethod == "server/discover")
        )
        {
            // The probe and every modern request mirror the body into the routing headers (transports, "Standard Request Headers").
            headers.TryAddWithoutValidation(McpHeaders.Method, mcpMethod);
            if (mcpName is not null)
            {
                headers.TryAddWithoutValidation(McpHeaders.Name, mcpName);
            }

            if (Era == McpEra.Modern && ToolParamHeaders is { } declared && ModernEnvelope.ParamHeaderValues(body.Span, declared) is { } parameters)
            {
                foreach (var (name, value) in parameters)
                {
                    headers.TryAddWithoutValidation(name, value);
                }
            }

            if (session?.ProtocolVersion is null)
            {
                headers.TryAddWithoutValidation(ProtocolHeader, McpRevisions.LatestModern);
            }
        }

        if (lastEventId is not null)
        {
            headers.TryAddWithoutValidation(LastEventIdHeader, lastEventId);
        }

        if (method == HttpMethod.Post)
        {
            request.Content = new JsonBodyContent(body);
        }

        return request;
    }

    private void StartGetStream(HttpSession session)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        _getStreamStop = stop;
        _getStream = Task.Run(() => RunGetStreamAsync(session, stop.Token), CancellationToken.None);
    }

    private void StopGetStream()
    {
        if (Interlocked.Exchange(ref _getStreamStop, null) is { } stop)
        {
            stop.Cancel();
            // The loop observes the token and exits; its source is left to the GC (it may still be linked).
        }
    }

    /// <summary>Keeps the GET stream open for the session; dispatches what arrives on it as unsolicited.</summary>
    private async Task RunGetStreamAsync(HttpSession session, CancellationToken cancellationToken)
    {
        string? lastEventId = null;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            int? retry = null;
            string detail;
            try
            {
                using var request = BuildRequest(HttpMethod.Get, default, session, lastEventId);
                using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.MethodNotAllowed)
                {
                    HttpLog.NoGetStream(Logger, Name);
                    return;
                }

                if (response.StatusCode == HttpStatusCode.NotFound && session.Id is not null)
                {
                    // The session ended; the next call, or this renewal, starts a new one with its own stream.
                    _ = RenewSessionAsync(session, _stopping.Token).AsTask();
                    return;
                }

                if (response.IsSuccessStatusCode && UpstreamHttp.IsMediaType(response, "text/event-stream"))
                {
                    failures = 0;
                    var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                    await using (stream.ConfigureAwait(false))
                    {
                        using var events = new SseReader(stream, UpstreamHttp.MaxMessageBytes);
                        try
                        {
                            await DispatchEventsAsync(events, null, cancellationToken).ConfigureAwait(false);
                        }
                        finally
                        {
                            lastEventId = events.LastEventId ?? lastEventId;
                            retry = events.RetryMilliseconds;
                        }
                    }

                    detail = "the server closed it";
                }
                else
                {
                    detail = $"HTTP {(int)response.StatusCode}";
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException or ObjectDisposedException)
            {
                detail = HttpFailure.Describe(ex);
            }

            failures++;
            HttpLog.GetStreamEnded(Logger, Name, detail);
            var delay = retry is > 0 ? TimeSpan.FromMilliseconds(retry.Value) : UpstreamHttp.Backoff(_options.RetryDelay, failures);
            try
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (!TryMarkDisposed())
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        StopGetStream();
        foreach (var task in new[] { Supervisor, _getStream })
        {
            if (task is not null)
            {
                try
                {
                    await task.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // It ends once the invoker is disposed below.
                }
            }
        }

        if (_session?.Id is not null)
        {
            await DeleteSessionAsync(_session).ConfigureAwait(false);
        }

        FailAllPending(UpstreamError.Unavailable, $"MCP server '{Name}' was stopped");
        SetState(UpstreamState.Stopped, $"MCP server '{Name}' was stopped");
        FirstAttemptDone();
        _http.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Ends the session on the server (spec: clients that no longer need it SHOULD send DELETE). Best effort.</summary>
    private async Task DeleteSessionAsync(HttpSession session)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            using var request = BuildRequest(HttpMethod.Delete, default, session, null);
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            HttpLog.DeleteFailed(Logger, Name, ex is OperationCanceledException ? "no answer within 2 s" : HttpFailure.Describe(ex));
        }
    }

    /// <summary>The session a request belongs to. Mutated only during its handshake, then published and left alone.</summary>
    private sealed class HttpSession
    {
        public string? Id { get; set; }

        public string? ProtocolVersion { get; set; }
    }

    /// <summary>One request to send; a struct so the pipeline callback needs no closure.</summary>
    private readonly record struct Attempt(
        StreamableHttpUpstream Upstream,
        HttpMethod Method,
        ReadOnlyMemory<byte> Body,
        HttpSession? Session,
        string? LastEventId
    );
}
