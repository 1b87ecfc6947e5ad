namespace Archestra.LoadUpstream;

/// <summary>
/// The Anthropic counterpart of <see cref="ChatCompletions"/> for the translation load run (bench/load/llm-translate.sh):
/// <c>POST /v1/messages</c> answers every request with the same small message (Anthropic API reference, Messages:
/// one text block, <c>stop_reason</c> <c>end_turn</c>, usage 12 input / 5 output tokens) as JSON; the body is read to its
/// end and not parsed, so the upstream costs the same whatever the gateway sent.
/// </summary>
internal static class Messages
{
    private static ReadOnlySpan<byte> Message =>
        """{"id":"msg_load","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":"""u8
        + """[{"type":"text","text":"Hello from the load upstream"}],"stop_reason":"end_turn","stop_sequence":null,"usage":"""u8
        + """{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":5}}"""u8;

    public static async Task PostAsync(HttpContext context)
    {
        var reader = context.Request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(context.RequestAborted);
            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted || read.IsCanceled)
            {
                break;
            }
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.ContentLength = Message.Length;
        System.Buffers.BuffersExtensions.Write(response.BodyWriter, Message);
        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
