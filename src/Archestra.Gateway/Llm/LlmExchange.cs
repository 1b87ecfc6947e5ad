using Archestra.Gateway.Configuration;
using Archestra.Gateway.Http;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Policy;
using Archestra.Policy.Llm;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Llm;

/// <summary>
/// One request through the LLM proxy, from the client's body to the audit row, in five stages (the shape of YARP's
/// <c>HttpForwarder.SendAsync</c>): 1. read the body; 2. decide (budgets, the history's tool results, routing rules);
/// 3. forward with resilience (<c>LlmExchange.Forward.cs</c>); 4. relay the answer, guarding tool calls
/// (<c>LlmExchange.Relay.cs</c>); 5. account. Every stage reads and writes this one object instead of passing
/// parameters along; expected failures end a stage with the provider's error format written to the client.
/// </summary>
internal sealed partial class LlmExchange : IDisposable
{
    private readonly LlmProxy _proxy;
    private byte[]? _body;
    private int _length;

    /// <summary>The correlation headers once checked; a refused value is not recorded.</summary>
    private AgentCorrelation _agent;

    /// <summary>Starts the exchange of one request the proxy routed to <paramref name="upstream"/>.</summary>
    public LlmExchange(LlmProxy proxy, HttpContext context, LlmDialect dialect, LlmProfile profile, LlmUpstream upstream, LlmEndpoint endpoint, long start)
    {
        _proxy = proxy;
        Context = context;
        Dialect = dialect;
        Profile = profile;
        Upstream = upstream;
        Endpoint = endpoint;
        Start = start;
    }

    public HttpContext Context { get; }

    /// <summary>The API the request is written in: routes, keys, error bodies, usage and stream facts.</summary>
    public LlmDialect Dialect { get; }

    public LlmProviderKind Kind => Dialect.Kind;

    public LlmProfile Profile { get; }

    /// <summary>The provider the request goes to: the profile's for the API, or the one a <c>provider/model</c> names.</summary>
    public LlmUpstream Upstream { get; private set; }

    public LlmEndpoint Endpoint { get; }

    public long Start { get; }

    public LlmRequestBody Body { get; private set; }

    /// <summary>The model the client asked for: the body's <c>model</c>, or the one the path names (Gemini).</summary>
    public string? RequestedModel => Body.Model ?? Dialect.ModelInPath(Rest);

    /// <summary>The path after the SDK's base URL, as the client sent it.</summary>
    private string Rest => Context.Request.RouteValues["rest"] as string ?? "";

    public LlmJsonScanner Scanner { get; } = new();

    /// <summary>The audit status: <c>ok</c>, the upstream's HTTP status, or what ended the exchange.</summary>
    public string Status { get; private set; } = "ok";

    public string? Error { get; private set; }

    public long? FirstToken { get; private set; }

    /// <summary>The model an optimization rule sent the request to instead of the requested one; null when none did.</summary>
    public string? RoutedModel { get; private set; }

    /// <summary>The request was handed to the upstream (so it may have been billed).</summary>
    public bool Forwarded { get; private set; }

    private CancellationToken Aborted => Context.RequestAborted;

    /// <summary>The generation API the request is written for.</summary>
    public LlmApi Api => Dialect.Api;

    /// <summary>The tool results of the request with their decisions, and the trust they leave; null before the rules ran.</summary>
    public LlmConversation? Conversation { get; private set; }

    /// <summary>Evaluates tool calls in the answer; null when the profile turned it off or the request offered no tools.</summary>
    public LlmToolGuard? Guard { get; private set; }

    /// <summary>Only chat completions has <c>stream_options</c>; the Responses API and Anthropic always report usage.</summary>
    private bool WantsUsage => Dialect.AsksForUsage && Endpoint == LlmEndpoint.Generation;

    /// <summary>Runs the stages in order; a stage that answers the client itself (a refusal, an error) skips the ones after it but the account.</summary>
    public async Task RunAsync()
    {
        // 1. Read the body (POST): bounded by limits.maxRequestBodyBytes, parsed once for what the later stages need.
        var go = await CheckCorrelationAsync().ConfigureAwait(false);
        go = go && (!HttpMethods.IsPost(Context.Request.Method) || await ReadBodyAsync().ConfigureAwait(false));

        // 2. Decide: budgets, the history's tool results (judged on the client's bytes, then rewritten), routing rules.
        go = go && (Endpoint != LlmEndpoint.Generation || await DecideAsync().ConfigureAwait(false));
        go = go && (Endpoint != LlmEndpoint.Embeddings || await DecideEmbeddingsAsync().ConfigureAwait(false));
        if (go)
        {
            // The provider's timeout bounds the sending and the relay of the answer together.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Aborted);
            timeout.CancelAfter(Upstream.Config.Timeout);

            // 3. Forward with resilience: the provider's retries and, within each attempt, its keys and their circuits.
            var response = await SendAsync(timeout.Token).ConfigureAwait(false);
            if (response is not null)
            {
                // 4. Relay the answer as it comes, guarding tool calls and reading usage on the way.
                using (response)
                {
                    await RelayAsync(response, timeout).ConfigureAwait(false);
                }

                NoteRetries();
            }
        }

        // 5. Account: metrics, budgets and the audit row of every generation (and embeddings) request, however it ended.
        if (Endpoint is LlmEndpoint.Generation or LlmEndpoint.Embeddings)
        {
            _proxy.Record(
                new LlmProxy.Interaction(
                    Profile.Name,
                    Upstream.Name,
                    UpstreamDialect,
                    RequestedModel ?? "",
                    RoutedModel,
                    Scanner,
                    Forwarded,
                    Status,
                    Error,
                    Start,
                    FirstToken,
                    Guard,
                    _agent
                )
            );
        }
    }

    /// <summary>Stage 1, first: malformed correlation headers are refused rather than stored cut or cleaned.</summary>
    private async Task<bool> CheckCorrelationAsync()
    {
        if (AgentCorrelation.Check(Context.Request) is not { } problem)
        {
            _agent = AgentCorrelation.Of(Context.Request);
            return true;
        }

        await FailAsync(LlmError.BadRequest, problem).ConfigureAwait(false);
        return false;
    }

    /// <summary>Stage 1: false when the request ended here (too large, too slow, not JSON the API accepts, the client gone).</summary>
    private async Task<bool> ReadBodyAsync()
    {
        var limit = _proxy.State.Config.Limits.MaxRequestBodyBytes;
        bool tooLarge;
        try
        {
            var request = Context.Request;
            (_body, _length, tooLarge) = await RequestBody.ReadAsync(request.BodyReader, request.ContentLength, limit, Aborted).ConfigureAwait(false);
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
        LlmTelemetry.RequestBody(_proxy.State.Config, Profile.Name, _body.AsSpan(0, _length));
        return true;
    }

    /// <summary>Stage 2: false when the request ended here (over budget, a history that hides what a result is, the client gone).</summary>
    private async Task<bool> DecideAsync()
    {
        if (!await WithinBudgetAsync().ConfigureAwait(false))
        {
            return false;
        }

        // The history's results are judged on the client's bytes, then rewritten (withheld, sanitized, TOON).
        if (!await EvaluateConversationAsync().ConfigureAwait(false) || !await RewriteResultsAsync().ConfigureAwait(false))
        {
            return false;
        }

        ApplyRules();
        return await RouteAsync().ConfigureAwait(false);
    }

    /// <summary>Refuses the request (429 in the provider's format, naming the limit) when a limit of the profile is used up.</summary>
    private async Task<bool> WithinBudgetAsync()
    {
        LimitCheck check;
        try
        {
            check = await _proxy.Budgets.CheckAsync(Profile.Name, _proxy.CurrentCosts().Limits, Aborted).ConfigureAwait(false);
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
    /// Reads the profile's policies once for the request, evaluates the history's tool results with the
    /// trusted-data policies, and arms the guard when the request offers tools. A history that hides what a
    /// result is gets a 400 in the provider's format.
    /// </summary>
    private async Task<bool> EvaluateConversationAsync()
    {
        var policies = _proxy.State.Policies.ForProfile(Profile.Name);
        if (!LlmConversation.TryEvaluate(policies, Dialect, _body.AsSpan(0, _length), out var conversation, out var error))
        {
            await FailAsync(LlmError.BadRequest, $"Invalid request: {error}.").ConfigureAwait(false);
            return false;
        }

        Conversation = conversation;
        if (Profile.ToolGuard && Body.HasTools)
        {
            Guard = new LlmToolGuard(Dialect, conversation) { Selection = Profile.ToolSelection };
        }

        return true;
    }

    /// <summary>How many results went upstream withheld, sanitized, or as TOON (for the tests and the log).</summary>
    public (int Withheld, int Sanitized, int Toon) Rewritten { get; private set; }

    /// <summary>
    /// Rewrites the tool results of the body as their trusted-data decisions and the profile say; a new body is
    /// built only when something changes. False when the request ended here (a malformed history, or the
    /// client went away during the quarantine).
    /// </summary>
    private async Task<bool> RewriteResultsAsync()
    {
        if (Conversation is not { Results.Count: > 0 } conversation)
        {
            return true;
        }

        var body = _body.AsMemory(0, _length);
        var config = Profile.Config;
        var edits = new LlmBodyEdits();
        List<(int Index, Task<(string Text, bool Sanitized)> Summary)>? sanitizing = null;
        var (withheld, toon) = (0, 0);
        var results = conversation.Results;
        for (var i = 0; i < results.Count; i++)
        {
            var (result, decision) = results[i];
            if (result.ContentStart == result.ContentEnd)
            {
                continue;
            }

            if (decision.Verdict == ResultVerdict.Block)
            {
                edits.Replace(result.ContentStart, result.ContentEnd, Dialect.ResultReplacement(decision.RefusalText(ToolLabel(result)), withheld: true));
                withheld++;
            }
            else if (decision.Verdict == ResultVerdict.SanitizeWithDualLlm && config.DualLlm is { } dual)
            {
                var (main, mainModel) = dual.MainModel is { } named ? (Upstream, named) : MainModel();
                var job = new LlmProxy.SanitizeJob(Profile, dual, main, mainModel, Dialect, body, result with { Tool = ToolLabel(result) }, Context.Request);
                (sanitizing ??= []).Add((i, _proxy.SanitizeAsync(job, Aborted)));
            }
            else if (config.Toon && LlmToonResults.Convert(Dialect, body.Span, result, edits) > 0)
            {
                toon++;
            }
        }

        var sanitized = 0;
        if (sanitizing is not null)
        {
            try
            {
                await Task.WhenAll(sanitizing.Select(static s => s.Summary)).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (Aborted.IsCancellationRequested)
            {
                Status = "client_cancelled";
                return false;
            }

            foreach (var (index, summary) in sanitizing)
            {
                var (result, decision) = results[index];
                var (text, ok) = summary.Result;
                edits.Replace(result.ContentStart, result.ContentEnd, Dialect.ResultReplacement(text, withheld: !ok));

                // The raw result never reaches the main model either way, so it no longer taints the conversation.
                results[index] = new LlmEvaluatedResult(
                    result,
                    ok
                        ? decision with
                        {
                            Verdict = ResultVerdict.Trusted,
                            Reason = $"sanitized by the dual LLM ({decision.Reason})",
                        }
                        : decision with
                        {
                            Verdict = ResultVerdict.Block,
                            Reason = $"withheld: the dual-LLM sanitization failed ({decision.Reason})",
                        }
                );
                if (ok)
                {
                    sanitized++;
                }
                else
                {
                    withheld++;
                }
            }
        }

        Rewritten = (withheld, sanitized, toon);
        if (edits.Count == 0)
        {
            return true;
        }

        var (buffer, length) = edits.Apply(body.Span);
        BytePool.Return(_body!);
        _body = buffer;
        _length = length;

        // The results' byte ranges point into the old body from here on; only their decisions are read later.
        if (!LlmRequestBody.TryParse(_body.AsSpan(0, _length), WantsUsage, out var parsed, out var error))
        {
            // The edits replace whole JSON values by JSON values: a body that parsed before parses after.
            throw new InvalidOperationException($"a rewritten request body no longer parses: {error}");
        }

        Body = parsed;
        return true;
    }

    private static string ToolLabel(in LlmToolResult result) => result.Tool.Length > 0 ? result.Tool : "an unknown tool";

    /// <summary>
    /// The first matching optimization rule's target replaces the <c>model</c> value upstream. The input size is
    /// the body's length in bytes: the messages dominate it, and <see cref="TokenEstimate"/> is an estimate anyway.
    /// </summary>
    private void ApplyRules()
    {
        var inPath = Body.ModelAt < 0;
        if (RequestedModel is not { } requested || (inPath && Dialect.ModelInPath(Rest) is null))
        {
            return;
        }

        var facts = new RequestFacts(requested, _length, Body.HasTools);
        if (_proxy.CurrentCosts().Rules.Choose(Profile.Name, facts) is { } target && target != requested)
        {
            // The body's model token is replaced upstream; a model named in the path is replaced there (BuildRequest).
            if (!inPath)
            {
                Body = Body.WithModel(target);
            }

            RoutedModel = target;
        }
    }

    private async Task FailAsync(LlmError error, string message)
    {
        Status = LlmErrors.StatusLabel(error);
        Error = message;
        await LlmErrors.WriteAsync(Context, Dialect, error, message).ConfigureAwait(false);
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
