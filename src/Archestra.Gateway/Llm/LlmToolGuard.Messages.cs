using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Anthropic messages: a whole answer's <c>tool_use</c> blocks, and in a stream the events of a <c>tool_use</c> block,
/// held until its <c>content_block_stop</c>.
/// </summary>
internal sealed partial class LlmToolGuard
{
    private int _keptBlocks;
    private int _refusedBlocks;

    // ---- whole answers ----

    /// <summary>Anthropic: <c>content[]</c> <c>tool_use</c> blocks become text blocks; all refused: <c>stop_reason</c> <c>end_turn</c>.</summary>
    private void AnthropicAnswer(ReadOnlySpan<byte> json, List<Edit> edits)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        int stopStart = -1,
            stopEnd = -1;
        int kept = 0,
            refused = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("stop_reason"u8))
            {
                (stopStart, stopEnd) = JsonMember.Range(ref reader);
                continue;
            }

            if (!JsonMember.Enter(ref reader, "content"u8, JsonTokenType.StartArray))
            {
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var start = (int)reader.TokenStartIndex;
                var isToolUse = false;
                var name = "";
                int inputStart = 0,
                    inputEnd = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("type"u8))
                    {
                        reader.Read();
                        isToolUse = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("tool_use"u8);
                    }
                    else if (reader.ValueTextEquals("name"u8))
                    {
                        name = JsonMember.String(ref reader) ?? "";
                    }
                    else if (reader.ValueTextEquals("input"u8))
                    {
                        (inputStart, inputEnd) = JsonMember.Range(ref reader);
                        continue;
                    }
                    else
                    {
                        reader.Read();
                    }

                    reader.Skip();
                }

                if (!isToolUse)
                {
                    continue;
                }

                if (Decide(name, json[inputStart..inputEnd]) is { } text)
                {
                    refused++;
                    edits.Add(new Edit(start, (int)reader.BytesConsumed, TextBlock(text)));
                }
                else
                {
                    kept++;
                }
            }
        }

        if (refused > 0 && kept == 0 && stopStart >= 0)
        {
            edits.Add(new Edit(stopStart, stopEnd, "\"end_turn\""u8.ToArray()));
        }
    }

    private static byte[] TextBlock(string text) => [.. "{\"type\":\"text\",\"text\":"u8, .. JsonString(text), (byte)'}'];

    // ---- streamed events ----

    private void RelayAnthropic(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.IsEmpty || (_calls.Count == 0 && _refusedBlocks == 0 && data.IndexOf("tool_use"u8) < 0))
        {
            output.Write(evt);
            return;
        }

        var e = AnthropicEvent.Read(data);

        switch (e.Type)
        {
            case AnthropicEventType.ToolUseStart:
                var call = new StreamCall(0, e.Index) { Id = e.Id ?? "" };
                call.Name.Append(e.Name);
                call.Events.Add((evt.ToArray(), false));
                _calls.Add(call);
                return;
            case AnthropicEventType.Delta or AnthropicEventType.Stop when _calls.Find(c => c.Index == e.Index) is { } pending:
                pending.Events.Add((evt.ToArray(), false));
                pending.Arguments.Write(e.PartialJson);
                if (e.Type == AnthropicEventType.Stop)
                {
                    ReleaseAnthropic(pending, output);
                    _calls.Remove(pending);
                }

                return;
            case AnthropicEventType.MessageDelta or AnthropicEventType.MessageStop:
                // A block never stopped: decided on what arrived (incomplete arguments do not parse, so it is refused).
                foreach (var open in _calls)
                {
                    ReleaseAnthropic(open, output);
                }

                _calls.Clear();
                if (
                    e.Type == AnthropicEventType.MessageDelta
                    && _refusedBlocks > 0
                    && _keptBlocks == 0
                    && e.StopStart >= 0
                    && data[e.StopStart..e.StopEnd].SequenceEqual("\"tool_use\""u8)
                )
                {
                    output.Write("event: message_delta\ndata: "u8);
                    output.Write(Apply(data, [new Edit(e.StopStart, e.StopEnd, "\"end_turn\""u8.ToArray())]));
                    output.Write("\n\n"u8);
                    return;
                }

                output.Write(evt);
                return;
            case AnthropicEventType.Other when _calls.Count > 0:
                // A ping while a call is held stays in its place, so an allowed call's events go out exactly as they came.
                _calls[^1].Events.Add((evt.ToArray(), true));
                return;
            default:
                output.Write(evt);
                return;
        }
    }

    private void ReleaseAnthropic(StreamCall call, IBufferWriter<byte> output)
    {
        if (Decide(call.Name.ToString(), call.Arguments.WrittenSpan) is not { } text)
        {
            _keptBlocks++;
            foreach (var (held, _) in call.Events)
            {
                output.Write(held);
            }

            return;
        }

        // The same block index, as a text block: start, one delta with the explanation, stop.
        _refusedBlocks++;
        var index = call.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        output.Write(
            Encoding.UTF8.GetBytes(
                "event: content_block_start\ndata: "
                    + $"{{\"type\":\"content_block_start\",\"index\":{index},\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"
            )
        );
        output.Write("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"u8);
        output.Write(Encoding.UTF8.GetBytes(index));
        output.Write(",\"delta\":{\"type\":\"text_delta\",\"text\":"u8);
        output.Write(JsonString(text));
        output.Write("}}\n\n"u8);
        output.Write(Encoding.UTF8.GetBytes($"event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":{index}}}\n\n"));
        foreach (var (held, passenger) in call.Events)
        {
            if (passenger)
            {
                output.Write(held);
            }
        }
    }

    private enum AnthropicEventType : byte
    {
        Other,
        ToolUseStart,
        Delta,
        Stop,
        MessageDelta,
        MessageStop,
    }

    private readonly record struct AnthropicEvent(AnthropicEventType Type, int Index, string? Id, string? Name, byte[] PartialJson, int StopStart, int StopEnd)
    {
        public static AnthropicEvent Read(ReadOnlySpan<byte> data)
        {
            var reader = new Utf8JsonReader(data);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            var type = AnthropicEventType.Other;
            var blockIsToolUse = false;
            int index = -1,
                stopStart = -1,
                stopEnd = -1;
            string? id = null,
                name = null;
            byte[] partial = [];
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type =
                        reader.ValueTextEquals("content_block_start"u8) ? AnthropicEventType.ToolUseStart
                        : reader.ValueTextEquals("content_block_delta"u8) ? AnthropicEventType.Delta
                        : reader.ValueTextEquals("content_block_stop"u8) ? AnthropicEventType.Stop
                        : reader.ValueTextEquals("message_delta"u8) ? AnthropicEventType.MessageDelta
                        : reader.ValueTextEquals("message_stop"u8) ? AnthropicEventType.MessageStop
                        : AnthropicEventType.Other;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("index"u8))
                {
                    index = JsonMember.Int32(ref reader, -1);
                }
                else if (reader.ValueTextEquals("content_block"u8) || reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("type"u8))
                        {
                            reader.Read();
                            blockIsToolUse |= reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("tool_use"u8);
                        }
                        else if (reader.ValueTextEquals("id"u8))
                        {
                            id = JsonMember.String(ref reader);
                        }
                        else if (reader.ValueTextEquals("name"u8))
                        {
                            name = JsonMember.String(ref reader);
                        }
                        else if (reader.ValueTextEquals("partial_json"u8))
                        {
                            partial = JsonMember.Utf8(ref reader);
                        }
                        else if (reader.ValueTextEquals("stop_reason"u8))
                        {
                            (stopStart, stopEnd) = JsonMember.Range(ref reader);
                            continue;
                        }
                        else
                        {
                            reader.Read();
                        }

                        reader.Skip();
                    }
                }
                else
                {
                    JsonMember.SkipValue(ref reader);
                }
            }

            if (type == AnthropicEventType.ToolUseStart && !blockIsToolUse)
            {
                type = AnthropicEventType.Other;
            }

            return new AnthropicEvent(type, index, id, name, partial, stopStart, stopEnd);
        }
    }
}
