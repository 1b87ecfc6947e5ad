using System.Buffers;
using System.Text.Json;
using Archestra.Gateway.Configuration;

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
    public static bool TryRead(LlmProviderKind kind, LlmApi api, ReadOnlySpan<byte> body, List<LlmToolResult> results, out string? error)
    {
        error = null;
        if (kind == LlmProviderKind.Anthropic)
        {
            api = LlmApi.Messages;
        }

        if (!MayHaveToolResults(api, body))
        {
            return true;
        }

        var listName = api == LlmApi.Responses ? "input" : "messages";
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
                    reader.Read();
                    reader.Skip();
                    continue;
                }

                reader.Read();
                if (api == LlmApi.Responses && reader.TokenType is JsonTokenType.String or JsonTokenType.Null)
                {
                    continue;
                }

                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    error = $"{listName} must be an array";
                    return false;
                }

                var ok = api switch
                {
                    LlmApi.ChatCompletions => ReadChat(ref reader, results, ref calls, out error),
                    LlmApi.Responses => ReadResponsesInput(ref reader, results, ref calls, out error),
                    _ => ReadAnthropic(ref reader, results, ref calls, out error),
                };
                if (!ok)
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
    internal static bool MayHaveToolResults(LlmApi api, ReadOnlySpan<byte> body)
    {
        var found = api switch
        {
            // "tool" is the role value; "function" the legacy role.
            LlmApi.ChatCompletions => body.IndexOf("\"tool\""u8) >= 0 || body.IndexOf("\"function\""u8) >= 0,
            LlmApi.Responses => body.IndexOf("_call_output"u8) >= 0,
            _ => body.IndexOf("tool_result"u8) >= 0,
        };
        return found || HasEscapedLetter(body);
    }

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
            reader.Read();
            reader.Skip();
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

    // ---- OpenAI chat completions ----

    private static bool ReadChat(ref Utf8JsonReader reader, List<LlmToolResult> results, ref Dictionary<string, string>? calls, out string? error)
    {
        error = null;
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = $"messages[{index}] must be an object";
                return false;
            }

            var role = Role.Other;
            string? callId = null, name = null;
            var content = default(Content);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("role"u8))
                {
                    reader.Read();
                    role = reader.TokenType != JsonTokenType.String ? Role.Other
                        : reader.ValueTextEquals("tool"u8) ? Role.Tool
                        : reader.ValueTextEquals("function"u8) ? Role.Function
                        : Role.Other;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("tool_call_id"u8))
                {
                    callId = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("name"u8))
                {
                    name = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    content = Content.Of(ref reader);
                }
                else if (reader.ValueTextEquals("tool_calls"u8))
                {
                    reader.Read();
                    ReadChatCalls(ref reader, ref calls);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (role == Role.Other)
            {
                continue;
            }

            var at = $"messages[{index}]";
            if (role == Role.Tool && (callId is null))
            {
                error = $"{at} is a tool message without a tool_call_id string";
                return false;
            }

            if (!content.Valid)
            {
                error = $"{at}.content of a {(role == Role.Tool ? "tool" : "function")} message must be a string or an array of content parts";
                return false;
            }

            // The legacy function role names its function itself and has no call id.
            var tool = role == Role.Function ? name ?? "" : calls?.GetValueOrDefault(callId!) ?? "";
            results.Add(new LlmToolResult(tool, callId ?? "", content.Start, content.End, content.IsString));
        }

        return true;
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

            string? id = null, name = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    id = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("function"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isName = reader.ValueTextEquals("name"u8);
                        reader.Read();
                        if (isName && reader.TokenType == JsonTokenType.String)
                        {
                            name = reader.GetString();
                        }

                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (id is not null && name is not null)
            {
                (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[id] = name;
            }
        }
    }

    // ---- OpenAI Responses API ----

    private static bool ReadResponsesInput(ref Utf8JsonReader reader, List<LlmToolResult> results, ref Dictionary<string, string>? calls, out string? error)
    {
        error = null;
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = $"input[{index}] must be an object";
                return false;
            }

            var type = ItemType.Other;
            string? callId = null, name = null;
            var output = default(Content);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.TokenType != JsonTokenType.String ? ItemType.Other
                        : reader.ValueTextEquals("function_call"u8) || reader.ValueTextEquals("custom_tool_call"u8) ? ItemType.Call
                        : reader.ValueTextEquals("function_call_output"u8) || reader.ValueTextEquals("custom_tool_call_output"u8) ? ItemType.Output
                        : ItemType.Other;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("call_id"u8))
                {
                    callId = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("name"u8))
                {
                    name = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("output"u8))
                {
                    reader.Read();
                    output = Content.Of(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (type == ItemType.Call && callId is not null && name is not null)
            {
                (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[callId] = name;
            }
            else if (type == ItemType.Output)
            {
                if (callId is null)
                {
                    error = $"input[{index}] is a function_call_output without a call_id string";
                    return false;
                }

                if (!output.Valid)
                {
                    error = $"input[{index}].output must be a string or an array of content parts";
                    return false;
                }

                results.Add(new LlmToolResult(calls?.GetValueOrDefault(callId) ?? "", callId, output.Start, output.End, output.IsString));
            }
        }

        return true;
    }

    // ---- Anthropic messages ----

    private static bool ReadAnthropic(ref Utf8JsonReader reader, List<LlmToolResult> results, ref Dictionary<string, string>? calls, out string? error)
    {
        error = null;
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = $"messages[{index}] must be an object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!JsonMember.Enter(ref reader, "content"u8, JsonTokenType.StartArray))
                {
                    continue;
                }

                if (!ReadAnthropicBlocks(ref reader, index, results, ref calls, out error))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool ReadAnthropicBlocks(ref Utf8JsonReader reader, int message, List<LlmToolResult> results, ref Dictionary<string, string>? calls, out string? error)
    {
        error = null;
        var index = -1;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            index++;
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            var type = ItemType.Other;
            string? id = null, name = null, useId = null;
            var content = default(Content);
            var hasContent = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.TokenType != JsonTokenType.String ? ItemType.Other
                        : reader.ValueTextEquals("tool_use"u8) ? ItemType.Call
                        : reader.ValueTextEquals("tool_result"u8) ? ItemType.Output
                        : ItemType.Other;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("id"u8))
                {
                    id = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("name"u8))
                {
                    name = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("tool_use_id"u8))
                {
                    useId = JsonMember.String(ref reader);
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    hasContent = true;
                    content = Content.Of(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (type == ItemType.Call && id is not null && name is not null)
            {
                (calls ??= new Dictionary<string, string>(StringComparer.Ordinal))[id] = name;
            }
            else if (type == ItemType.Output)
            {
                var at = $"messages[{message}].content[{index}]";
                if (useId is null)
                {
                    error = $"{at} is a tool_result without a tool_use_id string";
                    return false;
                }

                if (hasContent && !content.Valid)
                {
                    error = $"{at}.content must be a string or an array of content blocks";
                    return false;
                }

                // No content at all: an empty range, evaluated as an empty result.
                results.Add(new LlmToolResult(calls?.GetValueOrDefault(useId) ?? "", useId, content.Start, content.End, content.IsString));
            }
        }

        return true;
    }

    private enum Role : byte { Other, Tool, Function }

    private enum ItemType : byte { Other, Call, Output }

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
