using System.Text;
using System.Text.Json;
using Archestra.Gateway.Llm.Dialects;

namespace Archestra.Gateway.Llm.DualLlm;

/// <summary>
/// What the main model is told when it writes its questions: the last text the user wrote before the result and
/// the arguments of the call that produced it. Read with a DOM because it runs only when a result is sanitized
/// and not yet cached, never per request.
/// </summary>
internal static class DualLlmContext
{
    public static DualLlmTask Read(LlmDialect dialect, ReadOnlySpan<byte> body, string tool, string callId)
    {
        var user = "";
        var arguments = "{}";
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            var root = document.RootElement;
            var items = root.TryGetProperty(dialect.HistoryList, out var list) && list.ValueKind == JsonValueKind.Array ? list : default;
            if (items.ValueKind != JsonValueKind.Array)
            {
                return new DualLlmTask(tool, arguments, dialect.HistoryMayBeText && list.ValueKind == JsonValueKind.String ? list.GetString()! : user);
            }

            foreach (var item in items.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                if (dialect.IsResultOf(item, callId))
                {
                    break;
                }

                // Gemini's contents hold parts instead of content.
                var content =
                    item.TryGetProperty("content"u8, out var c) ? c
                    : item.TryGetProperty("parts"u8, out var parts) ? parts
                    : default;
                if (Str(item, "role"u8) == "user" && Text(content) is { Length: > 0 } text)
                {
                    user = text;
                }

                if (dialect.CallArguments(item, callId) is { } found)
                {
                    arguments = found;
                }
            }
        }
        catch (JsonException)
        {
            // The proxy parsed the body already; a failure here only leaves the context empty.
        }

        return new DualLlmTask(tool, arguments, user);
    }

    /// <summary>A message's text: a string, or its text parts joined (tool results and images are not the user's words).</summary>
    private static string Text(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return "";
        }

        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            // Gemini's text parts have no type.
            if (
                part.ValueKind == JsonValueKind.Object
                && (Str(part, "type"u8) is "text" or "input_text" || !part.TryGetProperty("type"u8, out _))
                && Str(part, "text"u8) is { } t
            )
            {
                text.Append(text.Length > 0 ? "\n" : "").Append(t);
            }
        }

        return text.ToString();
    }

    private static string? Str(JsonElement element, ReadOnlySpan<byte> name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The result as the quarantined model reads it: a string's text, or the content's JSON as it was sent.</summary>
    public static string ResultText(ReadOnlySpan<byte> content, bool isString)
    {
        if (!isString)
        {
            return Encoding.UTF8.GetString(content);
        }

        var reader = new Utf8JsonReader(content);
        return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(content);
    }
}
