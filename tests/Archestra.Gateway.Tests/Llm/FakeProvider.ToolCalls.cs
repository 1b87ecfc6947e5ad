using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// Tool calls: a request whose <c>tool_choice</c> forces one function (OpenAI <c>{"type":"function","function":{"name":N}}</c>,
/// Anthropic <c>{"type":"tool","name":N}</c>) is answered the way the provider answers it, by a call of that tool with
/// the arguments <see cref="ToolArguments"/> and nothing else: OpenAI <c>tool_calls</c> with <c>finish_reason</c>
/// <c>tool_calls</c> (in streams: the id and name first, then the arguments in two pieces), Anthropic one <c>tool_use</c>
/// block with <c>stop_reason</c> <c>tool_use</c> (in streams: <c>input_json_delta</c> pieces). Usage is that of the
/// text answers.
/// </summary>
internal sealed partial class FakeProvider
{
    public const string ToolArguments = """{"city":"Paris"}""";
    public const string OpenAiToolCallId = "call_fake_1";
    public const string AnthropicToolUseId = "toolu_fake_1";

    private async Task<bool> ToolCallAsync(HttpContext context, JsonElement root, string model, bool stream, bool openAi)
    {
        if (ForcedTool(root, openAi) is not { } forced)
        {
            return false;
        }

        var name = JsonEncodedText.Encode(forced).ToString();
        if (openAi)
        {
            var includeUsage =
                root.TryGetProperty("stream_options", out var options)
                && options.ValueKind == JsonValueKind.Object
                && options.TryGetProperty("include_usage", out var iu)
                && iu.ValueKind == JsonValueKind.True;
            if (stream)
            {
                await StreamAsync(context, OpenAiToolStream(model, name, includeUsage), model);
                return true;
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                $$$"""{"id":"chatcmpl-2","object":"chat.completion","created":1700000000,"model":"{{{UsedModel(model)}}}","choices":["""
                    + """{"index":0,"message":{"role":"assistant","content":null,"tool_calls":["""
                    + $$$"""{"id":"{{{OpenAiToolCallId}}}","type":"function","function":"""
                    + $$$"""{"name":"{{{name}}}","arguments":"{\"city\":\"Paris\"}"}}],"refusal":null,"annotations":[]},"logprobs":null"""
                    + $$$""","finish_reason":"tool_calls"}],"usage":{{{OpenAiUsage}}},"service_tier":"default","system_fingerprint":"fp_1"}"""
            );
            return true;
        }

        if (stream)
        {
            await StreamAsync(context, AnthropicToolStream(name), model);
            return true;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(
            $$$"""{"id":"msg_2","type":"message","role":"assistant","model":"{{{AnthropicModel}}}","content":["""
                + $$$"""{"type":"tool_use","id":"{{{AnthropicToolUseId}}}","name":"{{{name}}}","input":{{{ToolArguments}}}}]"""
                + ""","stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":3"""
                + ""","cache_read_input_tokens":7,"output_tokens":9}}"""
        );
        return true;
    }

    private static string? ForcedTool(JsonElement root, bool openAi)
    {
        if (!root.TryGetProperty("tool_choice", out var choice) || choice.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (openAi)
        {
            return
                choice.TryGetProperty("type", out var type)
                && type.ValueEquals("function")
                && choice.TryGetProperty("function", out var function)
                && function.TryGetProperty("name", out var name)
                ? name.GetString()
                : null;
        }

        return choice.TryGetProperty("type", out var t) && t.ValueEquals("tool") && choice.TryGetProperty("name", out var n) ? n.GetString() : null;
    }

    /// <summary>The exact SSE body the fake sends for a streamed OpenAI tool call.</summary>
    public static string OpenAiToolStream(string model, string name, bool includeUsage)
    {
        var used = UsedModel(model);
        // Chat Completions › chunk object: usage:null on every chunk when include_usage is set, obfuscation (on by default) after it.
        var usageNull = includeUsage ? ",\"usage\":null" : "";
        string Chunk(string delta, string finish) =>
            "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
            + used
            + "\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":"
            + delta
            + ",\"logprobs\":null,\"finish_reason\":"
            + finish
            + "}]"
            + usageNull
            + ",\"obfuscation\":\"k9\"}\n\n";
        var parts = new List<string>
        {
            Chunk(
                "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\""
                    + OpenAiToolCallId
                    + "\",\"type\":\"function\",\"function\":{\"name\":\""
                    + name
                    + "\",\"arguments\":\"\"}}],\"refusal\":null}",
                "null"
            ),
            Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}""", "null"),
            Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}""", "null"),
            Chunk("{}", "\"tool_calls\""),
        };
        if (includeUsage)
        {
            parts.Add(
                "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
                    + used
                    + "\",\"system_fingerprint\":\"fp_1\",\"choices\":[],\"usage\":"
                    + OpenAiUsage
                    + "}\n\n"
            );
        }

        parts.Add("data: [DONE]\n\n");
        return string.Concat(parts);
    }

    /// <summary>The exact SSE body the fake sends for a streamed Anthropic tool use.</summary>
    public static string AnthropicToolStream(string name)
    {
        static string Event(string type, string data) => $"event: {type}\ndata: {data}\n\n";
        return string.Concat(
            Event(
                "message_start",
                (
                    """{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"MODEL","content":"""
                    + """[],"stop_reason":null,"stop_sequence":null,"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":3,"cache_read_input_tokens":7,"output_tokens":1}}}"""
                ).Replace("MODEL", AnthropicModel, StringComparison.Ordinal)
            ),
            Event(
                "content_block_start",
                """{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"ID","name":"NAME","input":{}}}"""
                    .Replace("ID", AnthropicToolUseId, StringComparison.Ordinal)
                    .Replace("NAME", name, StringComparison.Ordinal)
            ),
            Event("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"""),
            Event("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"""),
            Event("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"""),
            Event("content_block_stop", """{"type":"content_block_stop","index":0}"""),
            // The short message_delta usage of the reference's older stream example (output_tokens only): both forms
            // are documented (MessageDeltaUsage's input fields are optional), so the fakes send both.
            Event("message_delta", """{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"""),
            Event("message_stop", """{"type":"message_stop"}""")
        );
    }
}
