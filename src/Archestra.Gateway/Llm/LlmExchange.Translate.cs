using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Gateway.Llm.Translation;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.Http;
using Archestra.Storage;
using Microsoft.AspNetCore.Http.Features;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The unified endpoint: a chat completions request whose model is <c>provider/model</c>, the provider being one the
/// profile allows, goes to that provider, translated to its API when it is not OpenAI's, and its answer comes back as
/// a chat completion. The history's results were judged and rewritten on the client's body before (stage 2), and the
/// guard decides on the translated answer, which is exactly what the client receives.
/// </summary>
internal sealed partial class LlmExchange
{
    private ChatRequest? _chat;
    private byte[]? _translated;
    private string? _targetModel;

    /// <summary>Translates the request to another provider's API and the answer back; null when the request goes as it came.</summary>
    public ChatTranslator? Translator { get; private set; }

    /// <summary>The API the upstream answers in: usage buckets, end of stream, keys.</summary>
    public LlmDialect UpstreamDialect => Translator?.Target ?? Dialect;

    /// <summary>
    /// Stage 2's last step: a chat model <c>provider/model</c> naming one of the profile's providers is sent there (after
    /// the rules, so a rule's target may name another provider). False when the request ended here (untranslatable).
    /// </summary>
    private async Task<bool> RouteAsync()
    {
        if (Dialect.Api != LlmApi.ChatCompletions || (RoutedModel ?? Body.Model) is not { } model)
        {
            return true;
        }

        // A model id with a slash of its own (OpenRouter's, vLLM's) names no provider of the profile: it goes as it is.
        var slash = model.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || Profile.Provider(model.AsSpan(0, slash)) is not { } target)
        {
            return true;
        }

        var targetModel = model[(slash + 1)..];
        if (targetModel.Length == 0)
        {
            await FailAsync(LlmError.BadRequest, $"Invalid request: model '{model}' names the provider '{target.Name}' but no model.").ConfigureAwait(false);
            return false;
        }

        Upstream = target;
        RoutedModel = targetModel;
        if (ChatTranslator.For(target.Kind) is not { } translator)
        {
            Body = Body.WithModel(targetModel);
            return true;
        }

        string? error;
        using (var document = JsonDocument.Parse(_body.AsMemory(0, _length)))
        {
            _chat = ChatRequest.Read(document.RootElement, out error);
        }

        _translated = _chat is null ? null : translator.Translate(_chat, targetModel, out error);
        if (_translated is null)
        {
            await FailAsync(LlmError.BadRequest, $"Invalid request: {error}.").ConfigureAwait(false);
            return false;
        }

        (Translator, _targetModel) = (translator, targetModel);
        return true;
    }

    /// <summary>The dual LLM's main model: the requested one, on the provider a <c>provider/model</c> names (the unified endpoint).</summary>
    private (LlmUpstream Upstream, string Model) MainModel()
    {
        var model = RequestedModel ?? "";
        var slash = model.IndexOf('/', StringComparison.Ordinal);
        return Dialect.Api == LlmApi.ChatCompletions && slash > 0 && Profile.Provider(model.AsSpan(0, slash)) is { } named
            ? (named, model[(slash + 1)..])
            : (Upstream, model);
    }

    /// <summary>The request to the provider in its own API: its path, the translated body, its key header and version.</summary>
    private HttpRequestMessage BuildTranslatedRequest(string? key)
    {
        var target = Translator!.Target;
        var message = new HttpRequestMessage(HttpMethod.Post, Upstream.BaseUrl + Translator.Path(_targetModel!, _chat!.Stream))
        {
            Content = new ByteArrayContent(_translated!),
        };
        message.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        // Pass-through: the client's bearer token is its key for the provider the model names.
        var sent = key ?? (Profile.PassThrough && OpenAiDialect.BearerToken(Context.Request) is { IsEmpty: false } token ? token.ToString() : null);
        if (sent is not null)
        {
            target.AddKey(message, sent);
        }

        target.AddSideCallHeaders(message, null);
        return message;
    }

    /// <summary>Stage 4 of a translated exchange: the provider's error, whole answer or stream, as OpenAI's.</summary>
    private async Task RelayTranslatedAsync(HttpResponseMessage upstream, bool sse, CancellationToken cancellationToken)
    {
        var response = Context.Response;
        var stream = await upstream.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        if (!upstream.IsSuccessStatusCode)
        {
            var status = (int)upstream.StatusCode;
            var (body, length) = await ReadWholeAsync(stream, "an error body", cancellationToken).ConfigureAwait(false);
            try
            {
                Error = AuditText.Truncate(body.AsSpan(0, length), MaxErrorBytes);
                var message = ChatTranslator.ErrorMessage(body.AsSpan(0, length)) ?? $"HTTP {status.ToString(CultureInfo.InvariantCulture)}";
                response.StatusCode = status;
                response.ContentType = "application/json";
                if (upstream.Headers.RetryAfter is { } retryAfter)
                {
                    response.Headers.RetryAfter = retryAfter.ToString();
                }

                await response.Body.WriteAsync(ChatTranslator.WriteError(status, $"{Upstream.Name}: {message}"), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                BytePool.Return(body);
            }

            return;
        }

        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (sse)
        {
            await RelayTranslatedEventsAsync(stream, created, cancellationToken).ConfigureAwait(false);
            return;
        }

        var (buffer, read) = await ReadWholeAsync(stream, "a JSON answer", cancellationToken).ConfigureAwait(false);
        try
        {
            Scanner.Feed(buffer.AsSpan(0, read), final: true);
            ChatAnswer? answer = null;
            try
            {
                var reader = new Utf8JsonReader(buffer.AsSpan(0, read));
                using var document = JsonDocument.ParseValue(ref reader);
                answer = LlmToolGuard.Unreadable(buffer.AsSpan(0, read)) is null ? Translator!.ReadAnswer(document.RootElement) : null;
            }
            catch (JsonException)
            {
                // Reported below.
            }

            if (answer is null)
            {
                await FailAsync(
                        LlmError.UpstreamProtocol,
                        $"The answer of '{Upstream.Name}' was not relayed: it is not the documented {UpstreamDialect.ProviderName} answer."
                    )
                    .ConfigureAwait(false);
                return;
            }

            var completion = ChatTranslator.WriteCompletion(answer, created);
            completion = Guard?.RewriteAnswer(completion) ?? completion;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json";
            response.ContentLength = completion.Length;
            await response.Body.WriteAsync(completion, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            BytePool.Return(buffer);
        }
    }

    /// <summary>The provider's events as chat chunks, each through the guard, ending in <c>data: [DONE]</c>.</summary>
    private async Task RelayTranslatedEventsAsync(Stream upstream, long created, CancellationToken cancellationToken)
    {
        var response = Context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        Context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(cancellationToken).ConfigureAwait(false);
        var output = response.BodyWriter;
        var chat = new ChatStream(created, _chat!.IncludeUsage);
        var finished = false;
        using (var events = new SseReader(upstream, MaxEventBytes, keepRaw: true))
        {
            while (await events.ReadEventAsync(cancellationToken).ConfigureAwait(false))
            {
                do
                {
                    var data = events.Data;
                    if (data.IsEmpty)
                    {
                        continue;
                    }

                    Scanner.ScanDocument(data);
                    if (Scanner.EventType == LlmEventType.Error)
                    {
                        // The provider's error inside the stream ends it, as OpenAI's own error chunk would.
                        Status = "upstream_error";
                        Error ??= AuditText.Truncate(data, MaxErrorBytes);
                        var message = ChatTranslator.ErrorMessage(data) ?? "the provider reported an error";
                        WriteChunk(ChatTranslator.WriteError(StatusCodes.Status500InternalServerError, $"{Upstream.Name}: {message}"), output);
                        finished = true;
                        continue;
                    }

                    finished |= Scanner.EventType == LlmEventType.End;
                    if (FirstToken is null && UpstreamDialect.IsToken(Scanner))
                    {
                        FirstToken = Stopwatch.GetTimestamp();
                    }

                    if (LlmToolGuard.Unreadable(data) is { } why)
                    {
                        throw new InvalidDataException($"the provider sent an event the proxy cannot check: {why}");
                    }

                    var reader = new Utf8JsonReader(data);
                    using (var document = JsonDocument.ParseValue(ref reader))
                    {
                        Translator!.ReadEvent(document.RootElement, chat);
                    }

                    foreach (var chunk in chat.Take())
                    {
                        WriteChunk(chunk, output);
                    }
                } while (events.TryReadBufferedEvent());

                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (!finished)
        {
            throw new IOException(UpstreamDialect.StreamEndedEarly);
        }

        var done = "data: [DONE]\n\n"u8;
        if (Guard is not null)
        {
            Guard.Relay(done, "[DONE]"u8, output);
        }
        else
        {
            output.Write(done);
        }

        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private void WriteChunk(byte[] data, System.IO.Pipelines.PipeWriter output)
    {
        byte[] evt = [.. "data: "u8, .. data, .. "\n\n"u8];
        if (Guard is not null)
        {
            Guard.Relay(evt, data, output);
        }
        else
        {
            output.Write(evt);
        }
    }

    /// <summary>A whole body in a pooled buffer (the caller returns it), bounded like an event.</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadWholeAsync(Stream stream, string what, CancellationToken cancellationToken)
    {
        var buffer = BytePool.Rent(InitialBufferSize);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    buffer = Grow(buffer, what);
                }

                var n = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    return (buffer, length);
                }

                length += n;
            }
        }
        catch
        {
            BytePool.Return(buffer);
            throw;
        }
    }
}
