using Archestra.Gateway.Configuration;
using Archestra.Policy;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Request rewriting on the LLM path: tool results a trusted-data policy blocks are withheld, results marked
/// <c>sanitize_with_dual_llm</c> are replaced by the quarantine's summary, and with <c>llm.toon</c> the other JSON
/// results go upstream as TOON. Everything else in the body stays byte for byte.
/// </summary>
internal sealed partial class LlmProxy
{
    private sealed partial class Exchange
    {
        /// <summary>Only chat completions has <c>stream_options</c>; the Responses API and Anthropic always report usage.</summary>
        private bool WantsUsage => Kind == LlmProviderKind.OpenAi && Endpoint == LlmEndpoint.Generation
            && Context.Request.RouteValues["rest"] as string == "chat/completions";

        /// <summary>How many results went upstream withheld, sanitized, or as TOON (for the tests and the log).</summary>
        public (int Withheld, int Sanitized, int Toon) Rewritten { get; private set; }

        /// <summary>
        /// Rewrites the tool results of the body as their trusted-data decisions and the profile say; a new body is
        /// built only when something changes. False when the request ended here (a malformed history, or the
        /// client went away during the quarantine).
        /// </summary>
        private async Task<bool> RewriteResultsAsync(LlmProxy proxy)
        {
            if (Conversation is not { Results.Count: > 0 } conversation)
            {
                return true;
            }

            var api = Api;
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
                    edits.ReplaceWithString(result.ContentStart, result.ContentEnd, decision.RefusalText(ToolLabel(result)));
                    withheld++;
                }
                else if (decision.Verdict == ResultVerdict.SanitizeWithDualLlm && config.DualLlm is { } dual)
                {
                    var job = new SanitizeJob(Profile, dual, Upstream, dual.MainModel ?? Body.Model ?? "", api, body, result with { Tool = ToolLabel(result) }, Context.Request);
                    (sanitizing ??= []).Add((i, proxy.SanitizeAsync(job, Aborted)));
                }
                else if (config.Toon && LlmToonResults.Convert(body.Span, result.ContentStart, result.ContentEnd, result.ContentIsString, edits) > 0)
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
                    edits.ReplaceWithString(result.ContentStart, result.ContentEnd, text);

                    // The raw result never reaches the main model either way, so it no longer taints the conversation.
                    results[index] = new LlmEvaluatedResult(result, ok
                        ? decision with { Verdict = ResultVerdict.Trusted, Reason = $"sanitized by the dual LLM ({decision.Reason})" }
                        : decision with { Verdict = ResultVerdict.Block, Reason = $"withheld: the dual-LLM sanitization failed ({decision.Reason})" });
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
    }
}
