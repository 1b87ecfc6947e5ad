using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Tests.Llm;

internal enum LlmApiShape
{
    Chat,
    Anthropic,
    Responses,
}

/// <summary>
/// Tool-call answers. A model named <c>call:TOOL[,TOOL...]</c> answers "Let me check." and then calls each tool, in
/// order, with the first user message's text as the arguments JSON (<c>{}</c> when it is not an object); streamed,
/// each call's arguments arrive in two pieces. <c>pause-call:...</c> streams the text and the start of the first
/// call, then waits for <see cref="Resume"/> before the rest. Wire formats: OpenAI chat (<c>tool_calls</c>, deltas
/// by index, finish_reason <c>tool_calls</c>), Anthropic (<c>tool_use</c> blocks, <c>input_json_delta</c>,
/// stop_reason <c>tool_use</c>), Responses (<c>function_call</c> output items, JSON only).
/// </summary>
internal sealed partial class FakeProvider
{
    public const string ToolPreamble = "Let me check.";

    /// <summary>Set by a test to let a paused stream go on.</summary>
    public TaskCompletionSource Resume { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ResetResume() => Resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    private void MapToolScripts(WebApplication app) => app.MapPost("/v1/responses", async context =>
        {
            var body = await ReadAsync(context, "/v1/responses");
            using var json = JsonDocument.Parse(body);
            var model = json.RootElement.GetProperty("model").GetString()!;
            if (model == "failed-midstream")
            {
                context.Response.ContentType = "text/event-stream; charset=utf-8";
                foreach (var evt in ResponsesFailedStream(model))
                {
                    await context.Response.WriteAsync(evt);
                    await context.Response.Body.FlushAsync();
                }
            }
            else if (!await ToolCallScriptAsync(context, json.RootElement, model, LlmApiShape.Responses))
            {
                context.Response.StatusCode = 400;
            }
        });

    private async Task<bool> ToolCallScriptAsync(HttpContext context, JsonElement root, string model, LlmApiShape shape)
    {
        var pause = model.StartsWith("pause-call:", StringComparison.Ordinal);
        if (!pause && !model.StartsWith("call:", StringComparison.Ordinal))
        {
            return false;
        }

        // Anything after '#' only makes the model name unique to one test.
        var tools = model[(model.IndexOf(':', StringComparison.Ordinal) + 1)..].Split('#')[0].Split(',');
        var arguments = FirstUserText(root, shape) is { } t && t.TrimStart().StartsWith('{') ? t : "{}";
        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (!stream)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(
                shape switch
                {
                    LlmApiShape.Chat => ChatToolAnswer(model, tools, arguments),
                    LlmApiShape.Anthropic => AnthropicToolAnswer(tools, arguments),
                    _ => ResponsesToolAnswer(model, tools, arguments),
                }
            );
            return true;
        }

        var includeUsage =
            root.TryGetProperty("stream_options", out var options)
            && options.ValueKind == JsonValueKind.Object
            && options.TryGetProperty("include_usage", out var iu)
            && iu.ValueKind == JsonValueKind.True;
        var events = shape switch
        {
            LlmApiShape.Chat => ChatToolStream(model, tools, arguments, includeUsage),
            LlmApiShape.Anthropic => AnthropicToolStream(tools, arguments),
            _ => ResponsesToolStream(model, tools, arguments),
        };
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        foreach (var (evt, i) in events.Select((e, i) => (e, i)))
        {
            // Text, then the first call's opening event: the rest waits for the test.
            if (pause && i == PauseAfter(shape))
            {
                await Resume.Task.WaitAsync(context.RequestAborted);
            }

            await context.Response.WriteAsync(evt);
            await context.Response.Body.FlushAsync();
        }

        return true;
    }

    private static int PauseAfter(LlmApiShape shape) =>
        shape switch
        {
            LlmApiShape.Chat => 3,
            LlmApiShape.Anthropic => 5,
            _ => 9,
        };

    private static string? FirstUserText(JsonElement root, LlmApiShape shape)
    {
        var list = shape == LlmApiShape.Responses ? "input" : "messages";
        if (!root.TryGetProperty(list, out var messages))
        {
            return null;
        }

        if (messages.ValueKind == JsonValueKind.String)
        {
            return messages.GetString();
        }

        foreach (var message in messages.EnumerateArray())
        {
            if (message.TryGetProperty("role", out var role) && role.GetString() == "user" && message.TryGetProperty("content", out var content))
            {
                return content.ValueKind == JsonValueKind.String ? content.GetString()
                    : content.ValueKind == JsonValueKind.Array && content[0].TryGetProperty("text", out var text) ? text.GetString()
                    : null;
            }
        }

        return null;
    }

    private static string Quote(string text) => JsonSerializer.Serialize(text, FakeJson.Default.String);

    private static string ChatToolAnswer(string model, string[] tools, string arguments)
    {
        var calls = string.Join(
            ",",
            tools.Select((tool, i) => $$$"""{"id":"call_{{{i}}}","type":"function","function":{"name":{{{Quote(tool)}}},"arguments":{{{Quote(arguments)}}}}}""")
        );
        return $$$"""{"id":"chatcmpl-2","object":"chat.completion","created":1700000000,"model":"{{{UsedModel(model)}}}","choices":["""
            + $$$"""{"index":0,"message":{"role":"assistant","content":{{{Quote(ToolPreamble)}}},"tool_calls":"""
            + $$$"""[{{{calls}}}],"refusal":null,"annotations":"""
            + $$$"""[]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{{{OpenAiUsage}}},"service_tier":"default","system_fingerprint":"fp_1"}""";
    }

    private static List<string> ChatToolStream(string model, string[] tools, string arguments, bool includeUsage)
    {
        // Chat Completions › chunk object: usage:null on every chunk when include_usage is set, obfuscation (on by default) after it.
        var usageNull = includeUsage ? ",\"usage\":null" : "";
        string Chunk(string delta, string finish) =>
            "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
            + UsedModel(model)
            + "\",\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":"
            + delta
            + ",\"logprobs\":null,\"finish_reason\":"
            + finish
            + "}]"
            + usageNull
            + ",\"obfuscation\":\"k9\"}\n\n";
        var events = new List<string>
        {
            Chunk("""{"role":"assistant","content":"","refusal":null}""", "null"),
            Chunk($$$"""{"content":{{{Quote(ToolPreamble)}}}}""", "null"),
        };
        var half = arguments.Length / 2;
        for (var i = 0; i < tools.Length; i++)
        {
            events.Add(
                Chunk(
                    $$$"""{"tool_calls":[{"index":{{{i}}},"id":"call_{{{i}}}","type":"function","function":{"name":{{{Quote(tools[i])}}},"arguments":""}}]}""",
                    "null"
                )
            );
            events.Add(Chunk($$$"""{"tool_calls":[{"index":{{{i}}},"function":{"arguments":{{{Quote(arguments[..half])}}}}}]}""", "null"));
            events.Add(Chunk($$$"""{"tool_calls":[{"index":{{{i}}},"function":{"arguments":{{{Quote(arguments[half..])}}}}}]}""", "null"));
        }

        events.Add(Chunk("{}", "\"tool_calls\""));
        if (includeUsage)
        {
            events.Add(
                "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\""
                    + UsedModel(model)
                    + "\",\"system_fingerprint\":\"fp_1\",\"choices\":[],\"usage\":"
                    + OpenAiUsage
                    + "}\n\n"
            );
        }

        events.Add("data: [DONE]\n\n");
        return events;
    }

    private static string AnthropicToolAnswer(string[] tools, string arguments)
    {
        var blocks = string.Join(
            ",",
            tools.Select((tool, i) => $$$"""{"type":"tool_use","id":"toolu_{{{i}}}","name":{{{Quote(tool)}}},"input":{{{arguments}}}}""")
        );
        return $$$"""{"id":"msg_2","type":"message","role":"assistant","model":"{{{AnthropicModel}}}","content":["""
            + $$$"""{"type":"text","text":{{{Quote(ToolPreamble)}}}},{{{blocks}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":"""
            + """{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":9}}""";
    }

    private static List<string> AnthropicToolStream(string[] tools, string arguments)
    {
        static string Event(string name, string data) => $"event: {name}\ndata: {data}\n\n";
        var events = new List<string>
        {
            Event(
                "message_start",
                (
                    """{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"MODEL","content":"""
                    + """[],"stop_reason":null,"stop_sequence":null,"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}"""
                ).Replace("MODEL", AnthropicModel, StringComparison.Ordinal)
            ),
            Event("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            Event("content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{{{Quote(ToolPreamble)}}}}}"""),
            Event("content_block_stop", """{"type":"content_block_stop","index":0}"""),
        };
        var half = arguments.Length / 2;
        for (var i = 0; i < tools.Length; i++)
        {
            var index = i + 1;
            events.Add(
                Event(
                    "content_block_start",
                    $$$"""{"type":"content_block_start","index":{{{index}}},"content_block":"""
                        + $$$"""{"type":"tool_use","id":"toolu_{{{i}}}","name":{{{Quote(tools[i])}}},"input":{"""
                        + "}}}"
                )
            );
            events.Add(
                Event(
                    "content_block_delta",
                    $$$"""{"type":"content_block_delta","index":{{{index}}},"delta":"""
                        + $$$"""{"type":"input_json_delta","partial_json":{{{Quote(arguments[..half])}}}}}"""
                )
            );
            events.Add(Event("ping", """{"type": "ping"}"""));
            events.Add(
                Event(
                    "content_block_delta",
                    $$$"""{"type":"content_block_delta","index":{{{index}}},"delta":"""
                        + $$$"""{"type":"input_json_delta","partial_json":{{{Quote(arguments[half..])}}}}}"""
                )
            );
            events.Add(Event("content_block_stop", $$$"""{"type":"content_block_stop","index":{{{index}}}}"""));
        }

        // Cumulative usage, input included (Anthropic: Streaming messages, MessageDeltaUsage).
        events.Add(
            Event(
                "message_delta",
                """{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":"""
                    + """{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":9}}"""
            )
        );
        events.Add(Event("message_stop", """{"type":"message_stop"}"""));
        return events;
    }

    private static List<string> ResponsesToolStream(string model, string[] tools, string arguments)
    {
        var sequence = 0;
        string Event(string type, string fields) => $"event: {type}\ndata: {{\"type\":\"{type}\",{fields},\"sequence_number\":{sequence++}}}\n\n";
        var created =
            """{"id":"resp_1","object":"response","created_at":1700000000"""
            + $$$""","status":"in_progress","model":"{{{UsedModel(model)}}}","output":[],"usage":null}""";
        var message =
            """{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":["""
            + $$$"""{"type":"output_text","text":{{{Quote(ToolPreamble)}}},"annotations":[]}]}""";
        var part = $$$"""{"type":"output_text","text":{{{Quote(ToolPreamble)}}},"annotations":[]}""";
        var events = new List<string>
        {
            Event("response.created", $"\"response\":{created}"),
            Event("response.in_progress", $"\"response\":{created}"),
            Event(
                "response.output_item.added",
                """ "output_index":0,"item":{"type":"message","id":"msg_1","status":"in_progress","role":"assistant","content":[]}"""
            ),
            Event(
                "response.content_part.added",
                """ "item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}"""
            ),
            Event("response.output_text.delta", $$$""" "item_id":"msg_1","output_index":0,"content_index":0,"delta":{{{Quote(ToolPreamble)}}},"logprobs":[]"""),
            Event("response.output_text.done", $$$""" "item_id":"msg_1","output_index":0,"content_index":0,"text":{{{Quote(ToolPreamble)}}},"logprobs":[]"""),
            Event("response.content_part.done", $$$""" "item_id":"msg_1","output_index":0,"content_index":0,"part":{{{part}}}"""),
            Event("response.output_item.done", $$$""" "output_index":0,"item":{{{message}}}"""),
        };
        var half = arguments.Length / 2;
        for (var i = 0; i < tools.Length; i++)
        {
            var index = i + 1;
            var item = $$$"""{"type":"function_call","id":"fc_{{{i}}}","call_id":"call_{{{i}}}","name":{{{Quote(tools[i])}}}""";
            events.Add(Event("response.output_item.added", $$$""" "output_index":{{{index}}},"item":{{{item}}},"arguments":"","status":"in_progress"}"""));
            events.Add(
                Event(
                    "response.function_call_arguments.delta",
                    $$$""" "item_id":"fc_{{{i}}}","output_index":{{{index}}},"delta":{{{Quote(arguments[..half])}}}"""
                )
            );
            events.Add(
                Event(
                    "response.function_call_arguments.delta",
                    $$$""" "item_id":"fc_{{{i}}}","output_index":{{{index}}},"delta":{{{Quote(arguments[half..])}}}"""
                )
            );
            events.Add(
                Event("response.function_call_arguments.done", $$$""" "item_id":"fc_{{{i}}}","output_index":{{{index}}},"arguments":{{{Quote(arguments)}}}""")
            );
            events.Add(
                Event(
                    "response.output_item.done",
                    $$$""" "output_index":{{{index}}},"item":{{{item}}},"arguments":{{{Quote(arguments)}}},"status":"completed"}"""
                )
            );
        }

        events.Add(Event("response.completed", $"\"response\":{ResponsesToolAnswer(model, tools, arguments)}"));
        return events;
    }

    /// <summary>The text <c>failed-midstream</c> sends before its <c>response.failed</c>.</summary>
    public const string ResponsesPartialText = "Hello from";

    /// <summary>
    /// OpenAI API reference, Responses › Streaming events: <c>response.created</c>, <c>response.in_progress</c>, some
    /// output, then <c>response.failed</c> ("emitted when a response fails"): the whole response with
    /// <c>"status":"failed"</c> and its <c>error</c> (<c>code</c>, <c>message</c>), the last event of the stream.
    /// </summary>
    public static List<string> ResponsesFailedStream(string model)
    {
        var sequence = 0;
        string Event(string type, string fields) => $"event: {type}\ndata: {{\"type\":\"{type}\",{fields},\"sequence_number\":{sequence++}}}\n\n";
        var created =
            """{"id":"resp_f","object":"response","created_at":1700000000,"status":"in_progress","error":null"""
            + $$$""","model":"{{{UsedModel(model)}}}","output":[],"usage":null}""";
        var failed =
            """{"id":"resp_f","object":"response","created_at":1700000000,"status":"failed","error":"""
            + """{"code":"server_error","message":"The model failed to generate a response."},"incomplete_details":null"""
            + $$$""","model":"{{{UsedModel(model)}}}","output":[],"usage":null}""";
        return
        [
            Event("response.created", $"\"response\":{created}"),
            Event("response.in_progress", $"\"response\":{created}"),
            Event(
                "response.output_item.added",
                """ "output_index":0,"item":{"type":"message","id":"msg_f","status":"in_progress","role":"assistant","content":[]}"""
            ),
            Event(
                "response.content_part.added",
                """ "item_id":"msg_f","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}"""
            ),
            Event(
                "response.output_text.delta",
                $$$""" "item_id":"msg_f","output_index":0,"content_index":0,"delta":{{{Quote(ResponsesPartialText)}}},"logprobs":[]"""
            ),
            Event("response.failed", $"\"response\":{failed}"),
        ];
    }

    private static string ResponsesToolAnswer(string model, string[] tools, string arguments)
    {
        var items = string.Join(
            ",",
            tools.Select(
                (tool, i) =>
                    $$$"""{"type":"function_call","id":"fc_{{{i}}}","call_id":"call_{{{i}}}","name":{{{Quote(tool)}}}"""
                    + $$$""","arguments":{{{Quote(arguments)}}},"status":"completed"}"""
            )
        );
        return """{"id":"resp_1","object":"response","created_at":1700000000"""
            + $$$""","status":"completed","model":"{{{UsedModel(model)}}}","output":["""
            + """{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":["""
            + $$$"""{"type":"output_text","text":{{{Quote(ToolPreamble)}}},"annotations":[]}]},{{{items}}}],"usage":{"input_tokens":12"""
            + ""","input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":17}}""";
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class FakeJson : System.Text.Json.Serialization.JsonSerializerContext;
