using System.Buffers;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Globalization;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.Http;
using Archestra.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Stage 4: the answer goes to the client as the provider sent it, event by event, while usage, the first token and
/// the end of the stream are read on the way and tool calls pass the guard.
/// </summary>
internal sealed partial class LlmExchange
{
    // 16 KB holds a typical JSON answer in one read; a guarded answer read whole grows (SSE events: SseReader's buffer).
    private const int InitialBufferSize = 16 * 1024;

    // An event (or a guarded JSON answer) this large is not one we can read; relaying stops rather than growing without bound.
    private const int MaxEventBytes = 16 * 1024 * 1024;

    // Enough of an upstream error body to say what went wrong in the audit row.
    private const int MaxErrorBytes = 1024;

    private static readonly FrozenSet<string> s_responseHeadersNotForwarded = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Connection"
    );

    private async Task RelayAsync(HttpResponseMessage upstream, CancellationTokenSource timeout)
    {
        var response = Context.Response;
        var ok = upstream.IsSuccessStatusCode;
        var sse = upstream.Content.Headers.ContentType?.MediaType is "text/event-stream";
        if (Translator is null)
        {
            response.StatusCode = (int)upstream.StatusCode;
            CopyHeaders(upstream.Headers, response, sse);
            CopyHeaders(upstream.Content.Headers, response, sse);
        }

        if (!ok)
        {
            Status = ((int)upstream.StatusCode).ToString(CultureInfo.InvariantCulture);
        }

        try
        {
            if (Translator is not null)
            {
                await RelayTranslatedAsync(upstream, sse, timeout.Token).ConfigureAwait(false);
                return;
            }

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
            Error =
                ex is OperationCanceledException
                    ? $"the answer did not finish within {Upstream.Config.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"
                    : $"the upstream answer broke off: {HttpFailure.Describe(ex)}";
            Log.StreamCut(_proxy.Logger, Upstream.Name, Error);
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
        if (stream && !Dialect.StreamCutEvent.IsEmpty)
        {
            try
            {
                Context.Response.BodyWriter.Write(Dialect.StreamCutEvent);
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
                    LlmTelemetry.Answer(chunk);
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
    /// A JSON answer to a request that offered tools: read whole (tool calls are decided on the whole call), rewritten
    /// when a call is refused.
    /// </summary>
    private async Task RelayGuardedBodyAsync(Stream upstream, HttpResponse response, CancellationToken cancellationToken)
    {
        var buffer = BytePool.Rent(InitialBufferSize);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    buffer = Grow(buffer, "a JSON answer");
                }

                var n = await upstream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }

            Scanner.Feed(buffer.AsSpan(0, length), final: true);
            LlmTelemetry.Answer(buffer.AsSpan(0, length));
            if (LlmToolGuard.Unreadable(buffer.AsSpan(0, length)) is { } why)
            {
                response.Headers.Clear();
                await FailAsync(LlmError.UpstreamProtocol, $"The provider's answer was not relayed: {why}.").ConfigureAwait(false);
                return;
            }

            var rewritten = Guard!.RewriteAnswer(buffer.AsSpan(0, length));
            ReadOnlyMemory<byte> answer = rewritten ?? buffer.AsMemory(0, length);
            response.ContentLength = answer.Length;
            await response.BodyWriter.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            BytePool.Return(buffer);
        }
    }

    /// <summary>A full pooled buffer, doubled (its bytes kept); <paramref name="what"/> names the content when it passes the limit.</summary>
    private static byte[] Grow(byte[] buffer, string what)
    {
        if (buffer.Length >= MaxEventBytes)
        {
            throw new InvalidDataException($"{what} larger than {MaxEventBytes} bytes");
        }

        var bigger = BytePool.Rent(buffer.Length * 2);
        buffer.CopyTo(bigger, 0);
        BytePool.Return(buffer);
        return bigger;
    }

    /// <summary>
    /// An SSE answer: each complete event (up to its blank line) is inspected and relayed as the provider wrote
    /// it. The events that arrived in one read are flushed together, right away: flushing each separately
    /// would send the same bytes at the same moment in more packets.
    /// </summary>
    private async Task RelayEventsAsync(Stream upstream, System.IO.Pipelines.PipeWriter output, CancellationToken cancellationToken)
    {
        var finished = false;
        using (var events = new SseReader(upstream, MaxEventBytes, keepRaw: true))
        {
            while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false))
            {
                var wrote = false;
                do
                {
                    var evt = events.RawEvent;
                    if (Inspect(events, ref finished, out var cutStart, out var cutEnd))
                    {
                        if (Guard is not null)
                        {
                            RelayGuarded(evt, events.Data, events.DataOffset, cutStart, cutEnd, output);
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
                } while (events.TryReadBufferedEvent());

                if (wrote)
                {
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (!finished)
        {
            throw new IOException(Dialect.StreamEndedEarly);
        }
    }

    /// <summary>
    /// Reads one event; false when the client must not see it (the usage chunk the proxy asked for). A range
    /// in <paramref name="cutStart"/>..<paramref name="cutEnd"/> (else -1) is left out of what the client sees:
    /// the <c>"usage":null</c> OpenAI adds to every chunk once usage was asked for.
    /// </summary>
    private bool Inspect(SseReader events, ref bool finished, out int cutStart, out int cutEnd)
    {
        cutStart = cutEnd = -1;
        var data = events.Data;
        if (data.IsEmpty)
        {
            return true;
        }

        if (Dialect.IsDoneMarker(data))
        {
            finished = true;
            return true;
        }

        // Several data lines arrive joined with LF (WHATWG SSE); providers send one line.
        var dataOffset = events.DataOffset;
        var multiLine = dataOffset < 0;
        Scanner.ScanDocument(data);
        LlmTelemetry.Answer(data);

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

        if (FirstToken is null && Dialect.IsToken(Scanner))
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

    /// <summary>One event through the guard, without the range the usage handling cut from it (a range of its one data line).</summary>
    private void RelayGuarded(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, int dataOffset, int cutStart, int cutEnd, IBufferWriter<byte> output)
    {
        if (cutStart < 0)
        {
            Guard!.Relay(evt, data, output);
            return;
        }

        var cut = cutEnd - cutStart;
        var length = evt.Length - cut;
        var joined = BytePool.Rent(length);
        evt[..cutStart].CopyTo(joined);
        evt[cutEnd..].CopyTo(joined.AsSpan(cutStart));
        Guard!.Relay(joined.AsSpan(0, length), joined.AsSpan(dataOffset, data.Length - cut), output);
        BytePool.Return(joined);
    }
}
