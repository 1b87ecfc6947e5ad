using System.Collections.Frozen;
using System.Globalization;
using System.Net;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http.Extensions;
using Polly;
using Polly.CircuitBreaker;

namespace Archestra.Gateway.Llm;

/// <summary>Stage 3: the request goes upstream through the provider's retry strategy, its keys and their circuit breakers.</summary>
internal sealed partial class LlmExchange
{
    private static readonly FrozenSet<string> s_requestHeadersNotForwarded = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Host",
        "Content-Length",
        "Content-Type",
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Connection",
        "Proxy-Authorization",
        "Expect",
        "Cookie",
        "Origin",
        // The proxy reads usage from the answer, so it must arrive uncompressed.
        "Accept-Encoding"
    );

    private HttpRequestMessage? _request;

    private int _attempts;

    private string? _failures;

    /// <summary>
    /// Sends the request through the provider's retry strategy and, within each attempt, its keys in order. Null
    /// when no answer came and the error was written to the client.
    /// </summary>
    private async Task<HttpResponseMessage?> SendAsync(CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        Outcome<HttpResponseMessage> outcome;
        try
        {
            // One key (the common case) needs no loop: its breaker runs straight in the retry, one async frame less.
            outcome =
                Upstream.KeysFor(Profile.PassThrough).Length == 1
                    ? await Upstream.Retry.ExecuteOutcomeAsync(static (ctx, x) => x.AttemptOneAsync(ctx), context, this).ConfigureAwait(false)
                    : await Upstream.Retry.ExecuteOutcomeAsync(static (ctx, x) => x.AttemptAsync(ctx), context, this).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        switch (outcome.Exception)
        {
            case null:
                return outcome.Result;
            case OperationCanceledException when Aborted.IsCancellationRequested:
                Status = "client_cancelled";
                return null;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                Log.UpstreamTimeout(_proxy.Logger, Upstream.Name, Upstream.Config.Timeout.TotalSeconds);
                var seconds = Upstream.Config.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture);
                await FailAsync(LlmError.UpstreamTimeout, $"The provider '{Upstream.Name}' did not answer within {seconds} s{AfterRetries()}.")
                    .ConfigureAwait(false);
                return null;
            case BrokenCircuitException:
                await FailCircuitOpenAsync().ConfigureAwait(false);
                return null;
            case HttpRequestException or OperationCanceledException:
                var detail = LlmResilience.Describe(outcome);
                Log.UpstreamUnreachable(_proxy.Logger, Upstream.Name, detail);
                await FailAsync(LlmError.UpstreamUnreachable, $"The provider '{Upstream.Name}' could not be reached{AfterRetries()}: {detail}")
                    .ConfigureAwait(false);
                return null;
            default:
                ExceptionDispatchInfo.Throw(outcome.Exception);
                return null;
        }
    }

    private ValueTask<Outcome<HttpResponseMessage>> AttemptOneAsync(ResilienceContext context)
    {
        _attempts++;
        var key = Upstream.KeysFor(Profile.PassThrough)[0];
        return key.Breaker.ExecuteOutcomeAsync(
            static (ctx, state) => state.Exchange.SendOnceAsync(state.Key, ctx.CancellationToken),
            context,
            (Exchange: this, Key: key)
        );
    }

    /// <summary>One attempt: the keys in order, skipping open circuits and moving on after 401, 403 or 429.</summary>
    private async ValueTask<Outcome<HttpResponseMessage>> AttemptAsync(ResilienceContext context)
    {
        _attempts++;
        var keys = Upstream.KeysFor(Profile.PassThrough);
        HttpResponseMessage? held = null;
        Outcome<HttpResponseMessage> outcome = default;
        for (var i = 0; i < keys.Length; i++)
        {
            var key = keys[i];
            outcome = await key
                .Breaker.ExecuteOutcomeAsync(
                    static (ctx, state) => state.Exchange.SendOnceAsync(state.Key, ctx.CancellationToken),
                    context,
                    (Exchange: this, Key: key)
                )
                .ConfigureAwait(false);
            var fallback =
                outcome.Exception is BrokenCircuitException ? "circuit_open"
                : outcome.Result?.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.TooManyRequests
                    ? ((int)outcome.Result.StatusCode).ToString(CultureInfo.InvariantCulture)
                : null;
            if (fallback is null || i == keys.Length - 1)
            {
                break;
            }

            Metrics.FellBack(Upstream.Name, key.Name, fallback);
            if (outcome.Result is { } answer)
            {
                // Kept until a later key answers: when every later circuit is open, the client gets this answer.
                held?.Dispose();
                held = answer;
            }
        }

        if (held is not null)
        {
            if (outcome.Exception is BrokenCircuitException)
            {
                outcome = Outcome.FromResult(held);
            }
            else
            {
                held.Dispose();
            }
        }

        return outcome;
    }

    private async ValueTask<Outcome<HttpResponseMessage>> SendOnceAsync(LlmUpstreamKey key, CancellationToken cancellationToken)
    {
        // A fresh message per attempt (HttpClient refuses to send one twice); the body is our buffer, so it re-sends.
        _request?.Dispose();
        _request = BuildRequest(key.Value);
        Forwarded = true;
        LlmTelemetry.StartAttempt(_attempts, key.Name);
        Outcome<HttpResponseMessage> outcome;
        try
        {
            outcome = Outcome.FromResult(await Upstream.Invoker.SendAsync(_request, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            outcome = Outcome.FromException<HttpResponseMessage>(ex);
        }

        LlmTelemetry.EndAttempt(outcome);

        if (LlmResilience.IsFailure(outcome, cancellationToken) || outcome.Result?.StatusCode == HttpStatusCode.TooManyRequests)
        {
            var what = LlmResilience.Describe(outcome);
            _failures = _failures is null ? what : string.Concat(_failures, ", ", what);
        }

        return outcome;
    }

    private LlmResilienceMetrics Metrics => Upstream.Metrics;

    /// <summary>Every key's circuit is open: 503 in the provider's format, with the earliest time one is tried again.</summary>
    private Task FailCircuitOpenAsync()
    {
        var keys = Upstream.KeysFor(Profile.PassThrough);
        var until = DateTime.MaxValue;
        foreach (var key in keys)
        {
            until = key.OpenUntil < until ? key.OpenUntil : until;
        }

        var seconds = Math.Max(1, (int)Math.Ceiling((until - DateTime.UtcNow).TotalSeconds));
        Context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var names = keys.Length == 1 ? $"key '{keys[0].Name}'" : $"all {keys.Length} keys";
        return FailAsync(
            LlmError.CircuitOpen,
            $"The circuit breaker for provider '{Upstream.Name}' is open ({names}) after repeated failures; "
                + $"it will be tried again at {until.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} (in {seconds} s)."
        );
    }

    /// <summary>" after N retries (what failed)" when the request was retried; empty otherwise.</summary>
    private string AfterRetries() => _attempts <= 1 ? "" : $" after {_attempts - 1} {(_attempts == 2 ? "retry" : "retries")} ({_failures})";

    /// <summary>Notes the retries in the audit row of an answer that failed in the end.</summary>
    private void NoteRetries()
    {
        if (_attempts > 1 && Status != "ok")
        {
            Error = string.Concat(Error ?? $"HTTP {Status}", AfterRetries());
        }
    }

    private HttpRequestMessage BuildRequest(string? key)
    {
        if (Translator is not null)
        {
            return BuildTranslatedRequest(key);
        }

        var request = Context.Request;
        var rest = RoutedModel is { } routed && Body.ModelAt < 0 ? Dialect.WithModelInPath(Rest, routed) : Rest;
        var url = string.Concat(Upstream.BaseUrl, "/", rest, ForwardedQuery());
        var method =
            HttpMethods.IsPost(request.Method) ? HttpMethod.Post
            : HttpMethods.IsGet(request.Method) ? HttpMethod.Get
            : new HttpMethod(request.Method);
        var message = new HttpRequestMessage(method, url);
        if (_body is not null)
        {
            message.Content = new LlmRequestContent(_body.AsMemory(0, _length), Body, request.ContentType);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (
                s_requestHeadersNotForwarded.Contains(name)
                || name.StartsWith(':')
                || LlmTelemetry.Replaces(name)
                || (
                    !Profile.PassThrough
                    && (
                        name.Equals("Authorization", StringComparison.OrdinalIgnoreCase)
                        || name.Equals("x-api-key", StringComparison.OrdinalIgnoreCase)
                        || Dialect.IsClientKeyHeader(name)
                    )
                )
            )
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
            Dialect.AddKey(message, key);
        }

        return message;
    }

    /// <summary>The client's query string; without its <c>key</c> parameter (a virtual key) unless the profile passes keys through.</summary>
    private string? ForwardedQuery()
    {
        var query = Context.Request.Query;
        if (!Dialect.KeyInQuery || Profile.PassThrough || !query.ContainsKey("key"))
        {
            return Context.Request.QueryString.Value;
        }

        var kept = new QueryBuilder();
        foreach (var (name, values) in query)
        {
            if (!name.Equals("key", StringComparison.Ordinal))
            {
                kept.Add(name, (IEnumerable<string>)values!);
            }
        }

        return kept.ToQueryString().Value;
    }
}
