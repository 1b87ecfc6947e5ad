using System.Globalization;
using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;

namespace Archestra.Gateway.Llm.Translation;

/// <summary>
/// Chat completions to Gemini generateContent (ai.google.dev/api "Generating content", "Function calling", "Structured
/// output"): system messages become <c>systemInstruction</c>, the assistant the <c>model</c> role, images
/// <c>inlineData</c>, tool calls <c>functionCall</c> parts, tool messages <c>functionResponse</c> parts (named by the call
/// they answer), <c>response_format</c> <c>responseMimeType</c> with <c>responseJsonSchema</c>. A stream's chunks each
/// become chat chunks; a function call arrives whole, so its arguments come in one delta.
/// </summary>
internal sealed class GeminiChatTranslator : ChatTranslator
{
    public override LlmDialect Target => LlmDialect.Gemini;

    public override string Path(string model, bool stream) =>
        $"/v1beta/models/{Uri.EscapeDataString(model)}:{(stream ? "streamGenerateContent?alt=sse" : "generateContent")}";

    public override string? WriteRequest(ChatRequest request, string model, Utf8JsonWriter w)
    {
        if (request.Given.Contains("user"))
        {
            return ChatRequest.Refuse("user", "gemini");
        }

        if (request.ParallelToolCalls == false)
        {
            return ChatRequest.Refuse("parallel_tool_calls: false", "gemini");
        }

        w.WriteStartObject();
        var system = SystemText(request);
        if (system.Length > 0)
        {
            w.WriteStartObject("systemInstruction"u8);
            w.WriteStartArray("parts"u8);
            w.WriteStartObject();
            w.WriteString("text"u8, system);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        if (WriteTurns(request, w, "contents"u8, "parts"u8, "model", (message, at, w) => WriteParts(request, message, at, w)) is { } error)
        {
            return error;
        }

        WriteTools(request, w);
        WriteGenerationConfig(request, w);
        w.WriteEndObject();
        return null;
    }

    private static string? WriteParts(ChatRequest request, ChatMessage message, string at, Utf8JsonWriter w)
    {
        if (message.Role == "tool")
        {
            if (request.FunctionOf(message.ToolCallId!) is not { } name)
            {
                return $"{at}.tool_call_id '{message.ToolCallId}' answers no earlier tool call; Gemini needs the function's name";
            }

            w.WriteStartObject();
            w.WriteStartObject("functionResponse"u8);
            w.WriteString("name"u8, name);
            w.WriteStartObject("response"u8);
            w.WriteString("output"u8, ChatRequest.Text(message));
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            return null;
        }

        var part = 0;
        foreach (var p in message.Parts.Where(p => p.Text is not { Length: 0 }))
        {
            if (p.Text is { } text)
            {
                w.WriteStartObject();
                w.WriteString("text"u8, text);
                w.WriteEndObject();
            }
            else if (ChatRequest.DataUrl(p.ImageUrl!) is var (mediaType, data))
            {
                w.WriteStartObject();
                w.WriteStartObject("inlineData"u8);
                w.WriteString("mimeType"u8, mediaType);
                w.WriteString("data"u8, data);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            else
            {
                // The Gemini API reads files it holds (fileData of the File API), not any URL.
                return $"{at}.content[{part}].image_url.url must be a data: URL to be translated to the gemini API";
            }

            part++;
        }

        foreach (var call in message.Calls)
        {
            w.WriteStartObject();
            w.WriteStartObject("functionCall"u8);
            w.WriteString("id"u8, call.Id);
            w.WriteString("name"u8, call.Name);
            w.WritePropertyName("args"u8);
            w.WriteRawValue(call.Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return null;
    }

    private static void WriteTools(ChatRequest request, Utf8JsonWriter w)
    {
        if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools"u8);
            w.WriteStartObject();
            w.WriteStartArray("functionDeclarations"u8);
            foreach (var tool in request.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name"u8, tool.Name);
                if (tool.Description is { } description)
                {
                    w.WriteString("description"u8, description);
                }

                if (tool.Parameters is { } parameters)
                {
                    w.WritePropertyName("parametersJsonSchema"u8);
                    w.WriteRawValue(parameters);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
        }

        if (request.ToolChoice is { } choice)
        {
            w.WriteStartObject("toolConfig"u8);
            w.WriteStartObject("functionCallingConfig"u8);
            w.WriteString(
                "mode"u8,
                choice switch
                {
                    "none" => "NONE",
                    "auto" => "AUTO",
                    _ => "ANY",
                }
            );
            if (request.ToolChoiceName is { } name)
            {
                w.WriteStartArray("allowedFunctionNames"u8);
                w.WriteStringValue(name);
                w.WriteEndArray();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static void WriteGenerationConfig(ChatRequest request, Utf8JsonWriter w)
    {
        w.WriteStartObject("generationConfig"u8);
        Raw(w, "temperature", request.Temperature);
        Raw(w, "topP", request.TopP);
        Raw(w, "presencePenalty", request.PresencePenalty);
        Raw(w, "frequencyPenalty", request.FrequencyPenalty);
        Raw(w, "seed", request.Seed);
        if (request.MaxTokens is { } max)
        {
            w.WriteNumber("maxOutputTokens"u8, max);
        }

        if (request.Stop.Count > 0)
        {
            w.WriteStartArray("stopSequences"u8);
            request.Stop.ForEach(w.WriteStringValue);
            w.WriteEndArray();
        }

        if (request.ResponseFormat is "json_object" or "json_schema")
        {
            w.WriteString("responseMimeType"u8, "application/json"u8);
        }

        if (request.JsonSchema is { } schema)
        {
            w.WritePropertyName("responseJsonSchema"u8);
            w.WriteRawValue(schema);
        }

        w.WriteEndObject();
    }

    private static string Finish(string? reason, bool calls) =>
        reason switch
        {
            "MAX_TOKENS" => "length",
            "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" or "IMAGE_SAFETY" => "content_filter",
            _ => calls ? "tool_calls" : "stop",
        };

    private static ChatUsage Usage(JsonElement usage)
    {
        var thoughts = Count(usage, "thoughtsTokenCount");
        return new ChatUsage(
            Count(usage, "promptTokenCount"),
            Count(usage, "candidatesTokenCount") + thoughts,
            Count(usage, "cachedContentTokenCount"),
            thoughts
        );
    }

    /// <summary>The text and function calls of the first candidate (thought parts left out), and its finish reason.</summary>
    private static (string? Text, List<ChatCall> Calls, string? Finish) Candidate(JsonElement root, int callsBefore)
    {
        string? text = null;
        var calls = new List<ChatCall>();
        if (
            !root.TryGetProperty("candidates"u8, out var candidates)
            || candidates.ValueKind != JsonValueKind.Array
            || candidates.GetArrayLength() == 0
            || candidates[0] is not { ValueKind: JsonValueKind.Object } candidate
        )
        {
            return (null, calls, null);
        }

        if (
            candidate.TryGetProperty("content"u8, out var content)
            && content.TryGetProperty("parts"u8, out var parts)
            && parts.ValueKind == JsonValueKind.Array
        )
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (part.TryGetProperty("thought"u8, out var thought) && thought.ValueKind == JsonValueKind.True)
                {
                    continue;
                }

                if (ChatRequest.Str(part, "text") is { } t)
                {
                    text = string.Concat(text, t);
                }
                else if (part.TryGetProperty("functionCall"u8, out var call))
                {
                    var name = ChatRequest.Str(call, "name") ?? "";
                    var id = ChatRequest.Str(call, "id") ?? $"call_{(callsBefore + calls.Count).ToString(CultureInfo.InvariantCulture)}_{name}";
                    calls.Add(new ChatCall(id, name, Arguments(call.TryGetProperty("args"u8, out var args) ? args : default)));
                }
            }
        }

        return (text, calls, ChatRequest.Str(candidate, "finishReason"));
    }

    public override ChatAnswer? ReadAnswer(JsonElement root)
    {
        if (!root.TryGetProperty("candidates"u8, out _))
        {
            return null;
        }

        var (text, calls, finish) = Candidate(root, 0);
        return new ChatAnswer(
            ChatRequest.Str(root, "responseId") ?? "gemini",
            ChatRequest.Str(root, "modelVersion") ?? "",
            text,
            calls,
            Finish(finish, calls.Count > 0),
            root.TryGetProperty("usageMetadata"u8, out var usage) ? Usage(usage) : null
        );
    }

    public override void ReadEvent(JsonElement root, ChatStream stream)
    {
        stream.Id = ChatRequest.Str(root, "responseId") ?? stream.Id;
        stream.Model = ChatRequest.Str(root, "modelVersion") ?? stream.Model;
        if (root.TryGetProperty("usageMetadata"u8, out var usage))
        {
            stream.Usage = Usage(usage);
        }

        var (text, calls, finish) = Candidate(root, stream.ToolIndexes.Count);
        if (text is not null)
        {
            stream.Text(text);
        }

        foreach (var call in calls)
        {
            var index = stream.ToolIndexes.Count;
            stream.ToolIndexes[index] = index;
            stream.ToolStart(index, call.Id, call.Name);
            stream.ToolArguments(index, call.Arguments);
        }

        if (finish is not null)
        {
            stream.End(Finish(finish, stream.ToolIndexes.Count > 0));
            stream.Close();
        }
    }
}
