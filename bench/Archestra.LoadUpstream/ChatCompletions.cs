using System.Text.Json;

namespace Archestra.LoadUpstream;

/// <summary>
/// The fastest OpenAI chat completions endpoint we can write, for the LLM load runs: <c>POST /v1/chat/completions</c>
/// answers every request with the same small completion (JSON, 12 prompt / 5 completion tokens), or, when the body
/// has <c>"stream":true</c>, with the same SSE stream event by event, one flush per event as a provider sends them:
/// a role chunk, three content chunks, a finish chunk, the usage chunk when <c>stream_options.include_usage</c> is
/// set, and <c>data: [DONE]</c> (the chunks carry no <c>"usage":null</c>). The answer names <c>gpt-4o-mini-2024-07-18</c>, so a gateway prices it.
/// </summary>
internal static class ChatCompletions
{
    private static ReadOnlySpan<byte> Completion =>
        """{"id":"chatcmpl-load","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0"""u8
        + ""","message":{"role":"assistant","content":"Hello from the load upstream","refusal":null,"annotations":[]},"logprobs":null"""u8
        + ""","finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":"""u8
        + """{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0"""u8
        + ""","accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_load"}"""u8;

    private const string ChunkHead =
        """data: {"id":"chatcmpl-load","object":"chat.completion.chunk","created":1700000000"""
        + ""","model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_load","choices":[""";

    private static readonly byte[][] Events =
    [
        Chunk("""{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"""),
        Chunk("""{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]"""),
        Chunk("""{"index":0,"delta":{"content":" from the"},"logprobs":null,"finish_reason":null}]"""),
        Chunk("""{"index":0,"delta":{"content":" load upstream"},"logprobs":null,"finish_reason":null}]"""),
        Chunk("""{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"""),
    ];

    private static readonly byte[] UsageEvent = Chunk(
        """],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":"""
            + """{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":"""
            + """{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"""
    );

    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private static byte[] Chunk(string choicesAndRest) => System.Text.Encoding.UTF8.GetBytes(ChunkHead + choicesAndRest + "}\n\n");

    // Fully qualified: this file is also compiled into the benchmarks, which have no ASP.NET Core implicit usings.
    public static async Task PostAsync(Microsoft.AspNetCore.Http.HttpContext context)
    {
        var reader = context.Request.BodyReader;
        System.IO.Pipelines.ReadResult read;
        while (true)
        {
            read = await reader.ReadAsync(context.RequestAborted);
            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }

        var (stream, includeUsage) = Flags(read.Buffer.IsSingleSegment ? read.Buffer.FirstSpan : System.Buffers.BuffersExtensions.ToArray(read.Buffer));
        reader.AdvanceTo(read.Buffer.End);

        var response = context.Response;
        response.StatusCode = Microsoft.AspNetCore.Http.StatusCodes.Status200OK;
        if (!stream)
        {
            response.ContentType = "application/json";
            response.ContentLength = Completion.Length;
            System.Buffers.BuffersExtensions.Write(response.BodyWriter, Completion);
            await response.BodyWriter.FlushAsync(context.RequestAborted);
            return;
        }

        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        foreach (var e in Events)
        {
            await response.BodyWriter.WriteAsync(e, context.RequestAborted);
        }

        if (includeUsage)
        {
            await response.BodyWriter.WriteAsync(UsageEvent, context.RequestAborted);
        }

        await response.BodyWriter.WriteAsync(Done, context.RequestAborted);
    }

    /// <summary>Top-level <c>stream</c> and <c>stream_options.include_usage</c>; a body that is not JSON counts as neither.</summary>
    private static (bool Stream, bool IncludeUsage) Flags(ReadOnlySpan<byte> json)
    {
        bool stream = false,
            includeUsage = false;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    stream = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isUsage = reader.ValueTextEquals("include_usage"u8);
                        reader.Read();
                        includeUsage |= isUsage && reader.TokenType == JsonTokenType.True;
                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return default;
        }

        return (stream, includeUsage);
    }
}
