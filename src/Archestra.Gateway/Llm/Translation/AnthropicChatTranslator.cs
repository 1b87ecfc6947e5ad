using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;

namespace Archestra.Gateway.Llm.Translation;

/// <summary>
/// Chat completions to Anthropic messages (docs "Messages", "Tool use", "Streaming messages", "Vision"): system messages
/// become <c>system</c>, images <c>image</c> blocks (base64 or URL), tool calls <c>tool_use</c> blocks, tool messages
/// <c>tool_result</c> blocks of one user turn; the answer's blocks, <c>stop_reason</c> and usage come back as a chat
/// completion, its events as chat chunks.
/// </summary>
internal sealed class AnthropicChatTranslator : ChatTranslator
{
    // Anthropic requires max_tokens; chat completions does not. 4096 is what the output of every current Claude model
    // allows at least, so a request without a limit is not cut shorter than a model's usual answer.
    private const long DefaultMaxTokens = 4096;

    public override LlmDialect Target => LlmDialect.AnthropicMessages;

    public override string Path(string model, bool stream) => "/v1/messages";

    public override string? WriteRequest(ChatRequest request, string model, Utf8JsonWriter w)
    {
        foreach (var field in (string[])["presence_penalty", "frequency_penalty", "seed", "response_format"])
        {
            // Anthropic has no sampling penalties or seed; its structured outputs are not a json_schema response_format.
            if (request.Given.Contains(field) && !(field == "response_format" && request.ResponseFormat == "text"))
            {
                return ChatRequest.Refuse(field, "anthropic");
            }
        }

        w.WriteStartObject();
        w.WriteString("model"u8, model);
        w.WriteNumber("max_tokens"u8, request.MaxTokens ?? DefaultMaxTokens);
        var system = SystemText(request);
        if (system.Length > 0)
        {
            w.WriteString("system"u8, system);
        }

        // Tool results answer in a user turn; consecutive ones share it.
        if (WriteTurns(request, w, "messages"u8, "content"u8, "assistant", static (message, _, w) => WriteBlocks(message, w)) is { } error)
        {
            return error;
        }

        WriteOptions(request, w);
        w.WriteEndObject();
        return null;
    }

    private static string? WriteBlocks(ChatMessage message, Utf8JsonWriter w)
    {
        if (message.Role == "tool")
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "tool_result"u8);
            w.WriteString("tool_use_id"u8, message.ToolCallId);
            w.WriteString("content"u8, ChatRequest.Text(message));
            w.WriteEndObject();
            return null;
        }

        // Anthropic refuses empty text blocks; an empty string says nothing to either API.
        foreach (var part in message.Parts.Where(p => p.Text is not { Length: 0 }))
        {
            w.WriteStartObject();
            if (part.Text is { } text)
            {
                w.WriteString("type"u8, "text"u8);
                w.WriteString("text"u8, text);
            }
            else
            {
                w.WriteString("type"u8, "image"u8);
                w.WriteStartObject("source"u8);
                if (ChatRequest.DataUrl(part.ImageUrl!) is var (mediaType, data))
                {
                    w.WriteString("type"u8, "base64"u8);
                    w.WriteString("media_type"u8, mediaType);
                    w.WriteString("data"u8, data);
                }
                else
                {
                    w.WriteString("type"u8, "url"u8);
                    w.WriteString("url"u8, part.ImageUrl);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        foreach (var call in message.Calls)
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "tool_use"u8);
            w.WriteString("id"u8, call.Id);
            w.WriteString("name"u8, call.Name);
            w.WritePropertyName("input"u8);
            w.WriteRawValue(call.Arguments);
            w.WriteEndObject();
        }

        return null;
    }

    private static void WriteOptions(ChatRequest request, Utf8JsonWriter w)
    {
        if (request.Stream)
        {
            w.WriteBoolean("stream"u8, true);
        }

        Raw(w, "temperature", request.Temperature);
        Raw(w, "top_p", request.TopP);
        if (request.Stop.Count > 0)
        {
            w.WriteStartArray("stop_sequences"u8);
            request.Stop.ForEach(w.WriteStringValue);
            w.WriteEndArray();
        }

        if (request.User is { } user)
        {
            w.WriteStartObject("metadata"u8);
            w.WriteString("user_id"u8, user);
            w.WriteEndObject();
        }

        if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools"u8);
            foreach (var tool in request.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name"u8, tool.Name);
                if (tool.Description is { } description)
                {
                    w.WriteString("description"u8, description);
                }

                w.WritePropertyName("input_schema"u8);
                w.WriteRawValue(tool.Parameters ?? """{"type":"object","properties":{}}""");
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        if (request.ToolChoice is not null || request.ParallelToolCalls == false)
        {
            w.WriteStartObject("tool_choice"u8);
            w.WriteString(
                "type"u8,
                request.ToolChoice switch
                {
                    "none" => "none",
                    "required" => "any",
                    "function" => "tool",
                    _ => "auto",
                }
            );
            if (request.ToolChoiceName is { } name)
            {
                w.WriteString("name"u8, name);
            }

            if (request.ParallelToolCalls == false && request.ToolChoice != "none")
            {
                w.WriteBoolean("disable_parallel_tool_use"u8, true);
            }

            w.WriteEndObject();
        }
    }

    private static string Finish(string? stopReason) =>
        stopReason switch
        {
            "max_tokens" or "model_context_window_exceeded" => "length",
            "tool_use" => "tool_calls",
            "refusal" => "content_filter",
            _ => "stop",
        };

    private static ChatUsage Usage(JsonElement usage)
    {
        var (input, read, write) = (Count(usage, "input_tokens"), Count(usage, "cache_read_input_tokens"), Count(usage, "cache_creation_input_tokens"));
        return new ChatUsage(input + read + write, Count(usage, "output_tokens"), read, 0);
    }

    public override ChatAnswer? ReadAnswer(JsonElement root)
    {
        if (!root.TryGetProperty("content"u8, out var blocks) || blocks.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        string? text = null;
        var calls = new List<ChatCall>();
        foreach (var block in blocks.EnumerateArray())
        {
            switch (ChatRequest.Str(block, "type"))
            {
                case "text":
                    text = string.Concat(text, ChatRequest.Str(block, "text"));
                    break;
                case "tool_use":
                    calls.Add(
                        new ChatCall(
                            ChatRequest.Str(block, "id") ?? "",
                            ChatRequest.Str(block, "name") ?? "",
                            Arguments(block.TryGetProperty("input"u8, out var input) ? input : default)
                        )
                    );
                    break;
            }
        }

        return new ChatAnswer(
            ChatRequest.Str(root, "id") ?? "msg",
            ChatRequest.Str(root, "model") ?? "",
            text,
            calls,
            Finish(ChatRequest.Str(root, "stop_reason")),
            root.TryGetProperty("usage"u8, out var usage) ? Usage(usage) : null
        );
    }

    public override void ReadEvent(JsonElement root, ChatStream stream)
    {
        var index = root.TryGetProperty("index"u8, out var i) && i.TryGetInt32(out var n) ? n : -1;
        switch (ChatRequest.Str(root, "type"))
        {
            case "message_start" when root.TryGetProperty("message"u8, out var message):
                stream.Id = ChatRequest.Str(message, "id") ?? stream.Id;
                stream.Model = ChatRequest.Str(message, "model") ?? stream.Model;
                stream.Usage = message.TryGetProperty("usage"u8, out var started) ? Usage(started) : null;
                stream.Text("");
                break;
            case "content_block_start" when root.TryGetProperty("content_block"u8, out var block) && ChatRequest.Str(block, "type") == "tool_use":
                var toolIndex = stream.ToolIndexes.Count;
                stream.ToolIndexes[index] = toolIndex;
                stream.ToolStart(toolIndex, ChatRequest.Str(block, "id") ?? "", ChatRequest.Str(block, "name") ?? "");
                break;
            case "content_block_delta" when root.TryGetProperty("delta"u8, out var delta):
                if (ChatRequest.Str(delta, "type") == "text_delta")
                {
                    stream.Text(ChatRequest.Str(delta, "text") ?? "");
                }
                else if (ChatRequest.Str(delta, "type") == "input_json_delta" && stream.ToolIndexes.TryGetValue(index, out var call))
                {
                    stream.ToolArguments(call, ChatRequest.Str(delta, "partial_json") ?? "");
                }

                break;
            case "message_delta":
                // Cumulative: it replaces what message_start said.
                if (root.TryGetProperty("usage"u8, out var usage))
                {
                    stream.Usage =
                        usage.TryGetProperty("input_tokens"u8, out _) || stream.Usage is not { } before
                            ? Usage(usage)
                            : before with
                            {
                                Completion = Count(usage, "output_tokens"),
                            };
                }

                stream.End(Finish(root.TryGetProperty("delta"u8, out var end) ? ChatRequest.Str(end, "stop_reason") : null));
                break;
            case "message_stop":
                stream.Close();
                break;
        }
    }
}
