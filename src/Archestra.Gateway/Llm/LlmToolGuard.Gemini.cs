using System.Buffers;
using System.Text.Json;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Gemini generateContent: the <c>functionCall</c> parts of <c>candidates[*].content.parts</c>. A stream sends each call
/// whole in one chunk (a chunk is a <c>GenerateContentResponse</c>), so a chunk is decided and rewritten as a whole answer is.
/// </summary>
internal sealed partial class LlmToolGuard
{
    /// <summary>Refused <c>functionCall</c> parts become <c>{"text": why}</c> parts; the finish reason (<c>STOP</c>) stays.</summary>
    private void GeminiAnswer(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!JsonMember.Enter(ref reader, "candidates"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (JsonMember.Enter(ref reader, "content"u8, JsonTokenType.StartObject))
                    {
                        GeminiContent(ref reader, json, edits);
                    }
                }
            }
        }
    }

    private void GeminiContent(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, List<Edit> edits)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!JsonMember.Enter(ref reader, "parts"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                var start = (int)reader.TokenStartIndex;
                var isCall = false;
                var partial = false;
                var name = "";
                int argsStart = 0,
                    argsEnd = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (!JsonMember.Enter(ref reader, "functionCall"u8, JsonTokenType.StartObject))
                    {
                        continue;
                    }

                    isCall = true;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("name"u8))
                        {
                            name = JsonMember.String(ref reader) ?? "";
                        }
                        else if (reader.ValueTextEquals("args"u8))
                        {
                            (argsStart, argsEnd) = JsonMember.Range(ref reader);
                        }
                        else if (reader.ValueTextEquals("partialArgs"u8) || reader.ValueTextEquals("willContinue"u8))
                        {
                            partial = true;
                            JsonMember.SkipValue(ref reader);
                        }
                        else
                        {
                            JsonMember.SkipValue(ref reader);
                        }
                    }
                }

                // A call without args is a call without arguments: evaluated as {}. Arguments streamed in pieces
                // (partialArgs) are never whole in one chunk, so the call cannot be checked: refused.
                if (isCall && (partial ? RefusePartial(name) : Decide(name, argsEnd > argsStart ? json[argsStart..argsEnd] : "{}"u8)) is { } text)
                {
                    edits.Add(new Edit(start, (int)reader.BytesConsumed, [.. "{\"text\":"u8, .. JsonString(text), (byte)'}']));
                }
            }
        }
    }

    private string RefusePartial(string tool)
    {
        _refused.Add($"{tool} (arguments in pieces)");
        return $"[Archestra] The call to the tool {tool} was not made: its arguments came in pieces the proxy cannot check.";
    }

    /// <summary>One chunk of a Gemini stream: relayed as it came, or as <c>data:</c> with its refused calls replaced.</summary>
    private void RelayGemini(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.IsEmpty || data.IndexOf("functionCall"u8) < 0)
        {
            output.Write(evt);
            return;
        }

        var edits = new List<Edit>();
        GeminiAnswer(data, edits);
        if (edits.Count == 0)
        {
            output.Write(evt);
            return;
        }

        output.Write("data: "u8);
        output.Write(Apply(data, edits));
        output.Write("\r\n\r\n"u8);
    }
}
