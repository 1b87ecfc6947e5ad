using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Gateway.Llm.DualLlm;
using Archestra.Runtime.Http;
using Archestra.Storage;

namespace Archestra.Gateway.Llm;

/// <summary>The dual-LLM quarantine (README, "Dual LLM"): the side calls of both roles and their records.</summary>
internal sealed partial class LlmProxy
{
    // A question or an answer is a few hundred bytes; a reply this large is not one.
    private const int MaxSideReplyBytes = 1024 * 1024;

    /// <summary>Audit status of a side call whose reply was usable; <see cref="SideCallFailed"/> otherwise.</summary>
    internal const string SideCallOk = "dual_llm";

    internal const string SideCallFailed = "dual_llm_failed";

    private readonly DualLlmCache _sanitized = new();

    internal DualLlmCache SanitizedResults => _sanitized;

    /// <summary>Everything one sanitization needs from its request.</summary>
    internal sealed record SanitizeJob(
        LlmProfile Profile,
        DualLlmConfig Config,
        LlmUpstream Main,
        string MainModel,
        LlmDialect Dialect,
        ReadOnlyMemory<byte> Body,
        LlmToolResult Result,
        HttpRequest Client
    );

    /// <summary>
    /// The text that replaces one result: the summary of the rounds, or a withheld notice when any call of the
    /// quarantine failed. Never the raw result. Throws <see cref="OperationCanceledException"/> only when the
    /// client went away.
    /// </summary>
    internal async Task<(string Text, bool Sanitized)> SanitizeAsync(SanitizeJob job, CancellationToken aborted)
    {
        var result = job.Result;
        var content = job.Body[result.ContentStart..result.ContentEnd];
        var key = DualLlmCache.Key(job.Profile.Name, job.Config, job.MainModel, result.Tool, result.CallId, content.Span);
        if (_sanitized.TryGet(key, out var cached))
        {
            return (cached, true);
        }

        if (!Volatile.Read(ref _snapshot).Upstreams.TryGetValue(job.Config.Provider, out var quarantine))
        {
            return (DualLlmProtocol.Withheld(result.Tool, $"the quarantine provider '{job.Config.Provider}' is not configured"), false);
        }

        var task = DualLlmContext.Read(job.Dialect, job.Body.Span, result.Tool, result.CallId);
        var raw = DualLlmContext.ResultText(content.Span, result.ContentIsString);
        var rounds = new List<DualLlmRound>(job.Config.MaxRounds);
        while (rounds.Count < job.Config.MaxRounds)
        {
            DualLlmQuestion? question = null;
            var asked = await SideCallAsync(
                    job,
                    job.Main,
                    job.MainModel,
                    "question",
                    DualLlmProtocol.PlannerRequest(LlmDialect.ForSideCalls(job.Main.Kind), job.MainModel, task, rounds),
                    reply => DualLlmProtocol.TryReadQuestion(LlmDialect.ForSideCalls(job.Main.Kind), reply, out question, out var why) ? null : why,
                    aborted
                )
                .ConfigureAwait(false);
            if (asked is not null)
            {
                // A broken follow-up leaves the answers already chosen; a broken first question leaves nothing to say.
                if (rounds.Count == 0)
                {
                    return (DualLlmProtocol.Withheld(result.Tool, asked), false);
                }

                break;
            }

            if (question is not { } offered)
            {
                break;
            }

            var answer = -1;
            var answered = await SideCallAsync(
                    job,
                    quarantine,
                    job.Config.Model,
                    "answer",
                    DualLlmProtocol.QuarantineRequest(LlmDialect.ForSideCalls(quarantine.Kind), job.Config.Model, raw, offered),
                    reply =>
                        DualLlmProtocol.TryReadAnswer(LlmDialect.ForSideCalls(quarantine.Kind), reply, offered.Options.Length, out answer, out var why)
                            ? null
                            : why,
                    aborted
                )
                .ConfigureAwait(false);
            if (answered is not null)
            {
                return (DualLlmProtocol.Withheld(result.Tool, answered), false);
            }

            rounds.Add(new DualLlmRound(offered, answer));
        }

        var summary = DualLlmProtocol.Summary(result.Tool, rounds);
        _sanitized.Add(key, summary);
        return (summary, true);
    }

    /// <summary>
    /// One non-streamed call of either role, recorded like any interaction of the profile (its own audit row with
    /// status <see cref="SideCallOk"/> or <see cref="SideCallFailed"/>, tokens, cost, budget). Returns null when the
    /// reply passed <paramref name="read"/>, else why not.
    /// </summary>
    private async Task<string?> SideCallAsync(
        SanitizeJob job,
        LlmUpstream upstream,
        string model,
        string role,
        byte[] request,
        Func<byte[], string?> read,
        CancellationToken aborted
    )
    {
        var start = Stopwatch.GetTimestamp();
        using var span = LlmTelemetry.StartSideCall(role, upstream, model);
        using var scanner = new LlmJsonScanner();
        string? error;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(upstream.Config.Timeout);
        try
        {
            using var message = SideRequest(job, upstream, model, request);
            using var response = await upstream.Invoker.SendAsync(message, timeout.Token).ConfigureAwait(false);
            var reply = await ReadSideReplyAsync(response.Content, timeout.Token).ConfigureAwait(false);
            if (reply is null)
            {
                error = $"the {role} reply exceeds {MaxSideReplyBytes} bytes";
            }
            else if (!response.IsSuccessStatusCode)
            {
                error =
                    $"the {role} call to '{upstream.Name}' failed with HTTP "
                    + $"{((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)}: {AuditText.Truncate(reply, 512)}";
            }
            else
            {
                scanner.Feed(reply, final: true);
                error = read(reply) is { } why ? $"the {role} reply was refused: {why}" : null;
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            Record(
                new Interaction(
                    job.Profile.Name,
                    upstream.Name,
                    LlmDialect.ForSideCalls(upstream.Kind),
                    model,
                    null,
                    scanner,
                    true,
                    "client_cancelled",
                    null,
                    start,
                    null
                )
            );
            throw;
        }
        catch (OperationCanceledException)
        {
            error =
                $"the {role} call to '{upstream.Name}' got no answer within {upstream.Config.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s";
        }
        catch (HttpRequestException ex)
        {
            error = $"the {role} call could not reach '{upstream.Name}': {HttpFailure.Describe(ex)}";
        }

        Record(
            new Interaction(
                job.Profile.Name,
                upstream.Name,
                LlmDialect.ForSideCalls(upstream.Kind),
                model,
                null,
                scanner,
                true,
                error is null ? SideCallOk : SideCallFailed,
                error,
                start,
                null
            )
        );
        return error;
    }

    private static HttpRequestMessage SideRequest(SanitizeJob job, LlmUpstream upstream, string model, byte[] body)
    {
        var dialect = LlmDialect.ForSideCalls(upstream.Kind);
        var message = new HttpRequestMessage(HttpMethod.Post, upstream.BaseUrl + dialect.SideCallPath(model)) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        // The main model on a pass-through profile is paid with the client's own key, like the request itself.
        var client = job.Client.Headers;
        var main = ReferenceEquals(upstream, job.Main);
        if (main && job.Profile.PassThrough)
        {
            CopyHeader(client, message, "Authorization");
            CopyHeader(client, message, "x-api-key");
            CopyHeader(client, message, "x-goog-api-key");
        }
        else if (upstream.Config.ApiKey is { } key)
        {
            dialect.AddKey(message, key);
        }

        dialect.AddSideCallHeaders(message, main ? client : null);
        return message;
    }

    private static void CopyHeader(IHeaderDictionary from, HttpRequestMessage to, string name)
    {
        if (from[name] is { Count: 1 } value)
        {
            to.Headers.TryAddWithoutValidation(name, value[0]);
        }
    }

    private static async Task<byte[]?> ReadSideReplyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > MaxSideReplyBytes)
                {
                    return null;
                }

                buffer.Write(chunk, 0, n);
            }

            return buffer.ToArray();
        }
    }
}
