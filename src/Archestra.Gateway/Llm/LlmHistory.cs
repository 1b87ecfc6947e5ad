using System.Buffers;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Llm.Dialects;

namespace Archestra.Gateway.Llm;

/// <summary>Which generation API a request body is written for.</summary>
internal enum LlmApi : byte
{
    /// <summary>OpenAI <c>POST /chat/completions</c>.</summary>
    ChatCompletions,

    /// <summary>OpenAI <c>POST /responses</c>.</summary>
    Responses,

    /// <summary>Anthropic <c>POST /v1/messages</c>.</summary>
    Messages,

    /// <summary>Gemini <c>POST /{version}/models/{model}:generateContent</c> (and <c>:streamGenerateContent</c>).</summary>
    GenerateContent,
}

/// <summary>
/// One tool result in a request's history. <see cref="ContentStart"/>..<see cref="ContentEnd"/> is the byte range
/// in the body of the whole JSON value of its content (a string including its quotes, or an array); an empty range
/// means the result has no content. <see cref="Tool"/> is empty when the call id matches no earlier tool call.
/// </summary>
internal readonly record struct LlmToolResult(string Tool, string CallId, int ContentStart, int ContentEnd, bool ContentIsString);

/// <summary>
/// Reads the tool results in a request body and maps each to its tool through the tool calls earlier in the
/// history: OpenAI chat <c>tool</c> messages (and the legacy <c>function</c> role), Responses API
/// <c>function_call_output</c> items, Anthropic <c>tool_result</c> blocks. One pass with <see cref="Utf8JsonReader"/>;
/// a body without any of them is recognised by a vectorized search and not parsed at all.
/// </summary>
internal static class LlmHistory
{
    /// <summary>
    /// Adds the body's tool results to <paramref name="results"/> in history order. False, with a message a person
    /// can act on, when the history is malformed in a way that hides what a result is (a tool message without an id
    /// or with content that is neither a string nor an array).
    /// </summary>
    public static bool TryRead(LlmProviderKind kind, LlmApi api, ReadOnlySpan<byte> body, List<LlmToolResult> results, out string? error) =>
        TryRead(kind == LlmProviderKind.Anthropic ? LlmDialect.AnthropicMessages : LlmDialect.Of(api), body, results, out error);

    /// <inheritdoc cref="TryRead(LlmProviderKind, LlmApi, ReadOnlySpan{byte}, List{LlmToolResult}, out string?)"/>
    public static bool TryRead(LlmDialect dialect, ReadOnlySpan<byte> body, List<LlmToolResult> results, out string? error)
    {
        error = null;
        if (!MayHaveToolResults(dialect, body))
        {
            return true;
        }

        var listName = dialect.HistoryList;
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the request body must be a JSON object";
                return false;
            }

            Dictionary<string, string>? calls = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals(listName))
                {
                    JsonMember.SkipValue(ref reader);
                    continue;
                }

                reader.Read();
                if (dialect.HistoryMayBeText && reader.TokenType is JsonTokenType.String or JsonTokenType.Null)
                {
                    continue;
                }

                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    error = $"{listName} must be an array";
                    return false;
                }

                if (!ReadList(ref reader, dialect, results, ref calls, out error))
                {
                    return false;
                }
            }
        }
        catch (JsonException ex)
        {
            error = $"the request body is not valid JSON: {ex.Message}";
            return false;
        }

        return true;
    }

    /// <summary>
    /// False only when the body cannot hold a tool result: none of the markers occurs unescaped and no escaped
    /// lowercase letter or underscore (<c>\u005f</c>..<c>\u007a</c>, which could spell one) occurs either.
    /// </summary>
    internal static bool MayHaveToolResults(LlmApi api, ReadOnlySpan<byte> body) => MayHaveToolResults(LlmDialect.Of(api), body);

    private static bool MayHaveToolResults(LlmDialect dialect, ReadOnlySpan<byte> body) => dialect.HasResultMarker(body) || HasEscapedLetter(body);

    private static bool HasEscapedLetter(ReadOnlySpan<byte> body)
    {
        int at;
        while ((at = body.IndexOf("\\u00"u8)) >= 0)
        {
            if (body.Length >= at + 6)
            {
                var high = body[at + 4];
                var low = (byte)(body[at + 5] | 0x20);
                if (high is (byte)'6' or (byte)'7' || (high == (byte)'5' && low == (byte)'f'))
                {
                    return true;
                }
            }

            body = body[(at + 4)..];
        }

        return false;
    }

    /// <summary>
    /// Writes the document the trusted-data policies evaluate for <paramref name="result"/>: the text itself when
    /// the content is a string holding a JSON object or array; otherwise the MCP CallToolResult shape
    /// <c>{"content":[{"type":"text","text":...}]}</c> for a string and <c>{"content":[...]}</c> for an array of
    /// blocks, so the same policy paths (<c>content[*].text</c>, fields of a JSON result) serve the MCP and LLM paths.
    /// </summary>
    public static void WritePolicyDocument(ReadOnlySpan<byte> body, in LlmToolResult result, IBufferWriter<byte> into)
    {
        var value = body[result.ContentStart..result.ContentEnd];
        if (value.IsEmpty)
        {
            Write(into, "{\"content\":[]}"u8);
            return;
        }

        // A Gemini functionResponse's response is an object: its documented "output" string is read as a string
        // result is; any other object by its fields, as a JSON text's.
        if (!result.ContentIsString && value[0] == (byte)'{')
        {
            if (OutputString(value) is ({ } start, var end))
            {
                WritePolicyDocument(
                    body,
                    result with
                    {
                        ContentStart = result.ContentStart + start,
                        ContentEnd = result.ContentStart + end,
                        ContentIsString = true,
                    },
                    into
                );
            }
            else
            {
                Write(into, value);
            }

            return;
        }

        if (!result.ContentIsString)
        {
            Write(into, "{\"content\":"u8);
            Write(into, value);
            Write(into, "}"u8);
            return;
        }

        var reader = new Utf8JsonReader(value);
        reader.Read();
        var raw = reader.ValueSpan;
        var text = raw;
        if (reader.ValueIsEscaped)
        {
            // Unescaped text is never longer than the escaped; written in place, kept only if it is JSON.
            var span = into.GetSpan(raw.Length);
            text = span[..reader.CopyString(span)];
        }

        if (IsJsonContainer(text))
        {
            if (reader.ValueIsEscaped)
            {
                into.Advance(text.Length);
            }
            else
            {
                Write(into, text);
            }

            return;
        }

        Write(into, "{\"content\":[{\"type\":\"text\",\"text\":"u8);
        Write(into, value);
        Write(into, "}]}"u8);
    }

    /// <summary>Where the string token of a Gemini response object's <c>output</c> member lies in it; null when it has none.</summary>
    internal static (int Start, int End)? OutputString(ReadOnlySpan<byte> response)
    {
        var reader = new Utf8JsonReader(response);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isOutput = reader.ValueTextEquals("output"u8);
            reader.Read();
            if (isOutput && reader.TokenType == JsonTokenType.String)
            {
                return ((int)reader.TokenStartIndex, (int)reader.BytesConsumed);
            }

            reader.Skip();
        }

        return null;
    }

    /// <summary>The text is one JSON object or array (and nothing else but whitespace).</summary>
    private static bool IsJsonContainer(ReadOnlySpan<byte> text)
    {
        var trimmed = text.TrimStart(" \t\r\n"u8);
        if (trimmed.IsEmpty || trimmed[0] is not ((byte)'{' or (byte)'['))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(trimmed);
            JsonMember.SkipValue(ref reader);
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void Write(IBufferWriter<byte> into, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(into.GetSpan(bytes.Length));
        into.Advance(bytes.Length);
    }

    /// <summary>
    /// The items of <c>messages</c> (chat, Anthropic) or <c>input</c> (Responses) the reader is on. Chat and Responses
    /// items are read whole; an Anthropic message's <c>content</c> array holds the blocks that are read.
    /// </summary>
    private static bool ReadList(
        ref Utf8JsonReader reader,
        LlmDialect dialect,
        List<LlmToolResult> results,
        ref Dictionary<string, string>? calls,
        out string? error
    )
    {
        error = null;
        var list = dialect.HistoryList;
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = $"{list}[{index}] must be an object";
                return false;
            }

            if (dialect.ResultsInParts)
            {
                if (!ReadParts(ref reader, dialect, $"{list}[{index}]", results, ref calls, out error))
                {
                    return false;
                }

                continue;
            }

            if (!dialect.ResultsInContentBlocks)
            {
                if (!Accept(ReadItem(ref reader, ref calls), dialect, $"{list}[{index}]", results, ref calls, out error))
                {
                    return false;
                }

                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!JsonMember.Enter(ref reader, "content"u8, JsonTokenType.StartArray))
                {
                    continue;
                }

                var block = -1;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    block++;
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                    }
                    else if (!Accept(ReadItem(ref reader, ref calls), dialect, $"{list}[{index}].content[{block}]", results, ref calls, out error))
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }

    /// <summary>
    /// A Gemini content the reader is on: its <c>parts</c> hold <c>functionCall</c> (<c>{id?, name, args}</c>) and
    /// <c>functionResponse</c> (<c>{id?, name, response}</c>) parts; a response names its function itself.
    /// </summary>
    private static bool ReadParts(
        ref Utf8JsonReader reader,
        LlmDialect dialect,
        string at,
        List<LlmToolResult> results,
        ref Dictionary<string, string>? calls,
        out string? error
    )
    {
        error = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!JsonMember.Enter(ref reader, "parts"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            var index = -1;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                index++;
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isCall = reader.ValueTextEquals("functionCall"u8);
                    if (!isCall && !reader.ValueTextEquals("functionResponse"u8))
                    {
                        JsonMember.SkipValue(ref reader);
                        continue;
                    }

                    var partAt = $"{at}.parts[{index}]";
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        error = $"{partAt}.{(isCall ? "functionCall" : "functionResponse")} must be an object";
                        return false;
                    }

                    string? id = null,
                        name = null;
                    Content content = default;
                    var hasContent = false;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("id"u8))
                        {
                            id = JsonMember.String(ref reader);
                        }
                        else if (reader.ValueTextEquals("name"u8))
                        {
                            name = JsonMember.String(ref reader);
                        }
                        else if (!isCall && reader.ValueTextEquals("response"u8))
                        {
                            reader.Read();
                            hasContent = true;
                            var start = (int)reader.TokenStartIndex;
                            var isObject = reader.TokenType == JsonTokenType.StartObject;
                            reader.Skip();
                            content = isObject ? new Content(start, (int)reader.BytesConsumed, false, true) : default;
                        }
                        else
                        {
                            JsonMember.SkipValue(ref reader);
                        }
                    }

                    if (isCall)
                    {
                        if (name is not null)
                        {
                            (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[GeminiDialect.CallId(id, name)] = name;
                        }

                        continue;
                    }

                    if (name is null)
                    {
                        error = $"{partAt} is {dialect.ResultNames.What} without a name string";
                        return false;
                    }

                    if (hasContent && !content.Valid)
                    {
                        error = dialect.ResultContentError(partAt, false);
                        return false;
                    }

                    results.Add(new LlmToolResult(name, GeminiDialect.CallId(id, name), content.Start, content.End, false));
                }
            }
        }

        return true;
    }

    /// <summary>Records a tool call, or adds a tool result; false when a result hides what it is.</summary>
    private static bool Accept(
        in Item item,
        LlmDialect dialect,
        string at,
        List<LlmToolResult> results,
        ref Dictionary<string, string>? calls,
        out string? error
    )
    {
        error = null;
        switch (item.Kind)
        {
            case ItemKind.Call when (item.CallId ?? item.Id) is { } id && item.Name is { } name:
                (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[id] = name;
                return true;
            case ItemKind.Result or ItemKind.FunctionMessage:
                break;
            default:
                return true;
        }

        var (what, idKey) = dialect.ResultNames;
        if (item.Kind == ItemKind.Result && item.CallId is null)
        {
            error = $"{at} is {what} without a {idKey} string";
            return false;
        }

        // Anthropic allows a tool_result without content: an empty range, evaluated as an empty result.
        if (!item.Content.Valid && (!dialect.ResultContentOptional || item.HasContent))
        {
            error = dialect.ResultContentError(at, item.Kind == ItemKind.FunctionMessage);
            return false;
        }

        // The legacy function role names its function itself and has no call id.
        var tool = item.Kind == ItemKind.FunctionMessage ? item.Name ?? "" : calls?.GetValueOrDefault(item.CallId!) ?? "";
        results.Add(new LlmToolResult(tool, item.CallId ?? "", item.Content.Start, item.Content.End, item.Content.IsString));
        return true;
    }

    private enum ItemKind : byte
    {
        Other,
        Call,
        Result,
        FunctionMessage,
    }

    /// <summary>What one message, input item or content block says about tool calls and results.</summary>
    private readonly record struct Item(ItemKind Kind, string? Id, string? CallId, string? Name, Content Content, bool HasContent);

    /// <summary>
    /// Reads the object the reader is on. Calls: chat <c>tool_calls</c> (recorded on the way), Responses
    /// <c>function_call</c>, Anthropic <c>tool_use</c>. Results: chat <c>role: tool</c> (and the legacy
    /// <c>function</c>), Responses <c>function_call_output</c>, Anthropic <c>tool_result</c>.
    /// </summary>
    private static Item ReadItem(ref Utf8JsonReader reader, ref Dictionary<string, string>? calls)
    {
        ItemKind byRole = ItemKind.Other,
            byType = ItemKind.Other;
        string? id = null,
            callId = null,
            name = null;
        var content = default(Content);
        var hasContent = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("role"u8))
            {
                reader.Read();
                byRole =
                    reader.TokenType != JsonTokenType.String ? ItemKind.Other
                    : reader.ValueTextEquals("tool"u8) ? ItemKind.Result
                    : reader.ValueTextEquals("function"u8) ? ItemKind.FunctionMessage
                    : ItemKind.Other;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                byType =
                    reader.TokenType != JsonTokenType.String ? ItemKind.Other
                    : reader.ValueTextEquals("function_call"u8) || reader.ValueTextEquals("custom_tool_call"u8) || reader.ValueTextEquals("tool_use"u8)
                        ? ItemKind.Call
                    : reader.ValueTextEquals("function_call_output"u8)
                    || reader.ValueTextEquals("custom_tool_call_output"u8)
                    || reader.ValueTextEquals("tool_result"u8)
                        ? ItemKind.Result
                    : ItemKind.Other;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                id = JsonMember.String(ref reader);
            }
            else if (reader.ValueTextEquals("tool_call_id"u8) || reader.ValueTextEquals("call_id"u8) || reader.ValueTextEquals("tool_use_id"u8))
            {
                callId = JsonMember.String(ref reader);
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                name = JsonMember.String(ref reader);
            }
            else if (reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("output"u8))
            {
                reader.Read();
                hasContent = true;
                content = Content.Of(ref reader);
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                ReadChatCalls(ref reader, ref calls);
            }
            else
            {
                JsonMember.SkipValue(ref reader);
            }
        }

        return new Item(byType != ItemKind.Other ? byType : byRole, id, callId, name, content, hasContent);
    }

    /// <summary>An assistant message's <c>tool_calls</c>: <c>[{id, type, function: {name, arguments}}]</c>.</summary>
    private static void ReadChatCalls(ref Utf8JsonReader reader, ref Dictionary<string, string>? calls)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            string? id = null,
                name = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    id = JsonMember.String(ref reader);
                }
                else if (JsonMember.Enter(ref reader, "function"u8, JsonTokenType.StartObject))
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("name"u8))
                        {
                            name = JsonMember.String(ref reader);
                        }
                        else
                        {
                            JsonMember.SkipValue(ref reader);
                        }
                    }
                }
            }

            if (id is not null && name is not null)
            {
                (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[id] = name;
            }
        }
    }

    /// <summary>Where a content value lies; the reader is left on its last token.</summary>
    private readonly record struct Content(int Start, int End, bool IsString, bool Valid)
    {
        public static Content Of(ref Utf8JsonReader reader)
        {
            var start = (int)reader.TokenStartIndex;
            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    return new Content(start, (int)reader.BytesConsumed, true, true);
                case JsonTokenType.StartArray:
                    reader.Skip();
                    return new Content(start, (int)reader.BytesConsumed, false, true);
                default:
                    reader.Skip();
                    return new Content(0, 0, false, false);
            }
        }
    }
}
