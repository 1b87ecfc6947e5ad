using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Llm;

/// <summary>
/// Streams: every event that carries no tool call goes out at once; the events of a tool call are held until the
/// call is complete (OpenAI chat: the next call index of its choice, a finish reason or <c>[DONE]</c>; Anthropic:
/// its <c>content_block_stop</c>) and decided, then released as they came or replaced by text events.
/// </summary>
internal sealed partial class LlmToolGuard
{
    private readonly List<Held> _held = [];
    private readonly List<StreamCall> _calls = [];
    private readonly Dictionary<int, (int Kept, int Refused)> _choices = [];
    private byte[]? _envelope;

    /// <summary>One event held back: as it came, and its data (for rewriting a finish reason).</summary>
    private sealed record Held(byte[] Event, byte[] Data, bool Tool, List<(int Choice, int Start, int End)>? Finishes, string? Text, int TextChoice);

    private sealed class StreamCall(int choice, int index)
    {
        public int Choice { get; } = choice;
        public int Index { get; } = index;
        public string Id { get; set; } = "";

        /// <summary>Responses API: the sequence numbers of the call's held events.</summary>
        public List<long> Sequence { get; } = [];
        public StringBuilder Name { get; } = new();
        public ArrayBufferWriter<byte> Arguments { get; } = new();
        public bool Complete { get; set; }
        public string? Refusal { get; set; }
        /// <summary>Anthropic: the call's events, and others (pings) that came while it was held, in order.</summary>
        public List<(byte[] Event, bool Passenger)> Events { get; } = [];
    }

    /// <summary>
    /// Relays one SSE event (as the client would get it, with its data lines joined in <paramref name="data"/>): written to
    /// <paramref name="output"/> now, or held.
    /// </summary>
    public void Relay(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (Unreadable(data) is { } why)
        {
            // Ends the stream as a broken answer (Anthropic: the documented error event; OpenAI: aborted).
            throw new InvalidDataException($"the provider sent an event the proxy cannot check: {why}");
        }

        try
        {
            switch (Api)
            {
                case LlmApi.ChatCompletions:
                    RelayChat(evt, data, output);
                    break;
                case LlmApi.Responses:
                    RelayResponses(evt, data, output);
                    break;
                default:
                    RelayAnthropic(evt, data, output);
                    break;
            }
        }
        catch (JsonException)
        {
            // Not the JSON the API documents (each event is parsed before anything of it is written): relayed as it is.
            output.Write(evt);
        }
    }

    // ---- OpenAI chat completion chunks ----

    private void RelayChat(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            ReleaseChat(output, force: true);
            output.Write(evt);
            return;
        }

        if (data.IsEmpty || (_held.Count == 0 && _choices.Count == 0 && data.IndexOf("tool_calls"u8) < 0))
        {
            output.Write(evt);
            return;
        }

        var chunk = new ChatChunk();
        chunk.Read(data, ref _envelope);

        if (chunk.Deltas.Count == 0)
        {
            if (chunk.Finishes is null)
            {
                output.Write(evt);
                return;
            }

            CompleteChoices(chunk.Finishes);
            ReleaseChat(output, force: false);
            if (_held.Count > 0)
            {
                _held.Add(new Held(evt.ToArray(), data.ToArray(), false, chunk.Finishes, null, 0));
            }
            else
            {
                WriteWithFinish(evt, data, chunk.Finishes, output);
            }

            return;
        }

        foreach (var delta in chunk.Deltas)
        {
            var call = _calls.Find(c => c.Choice == delta.Choice && c.Index == delta.Index);
            if (call is null)
            {
                foreach (var other in _calls)
                {
                    other.Complete |= other.Choice == delta.Choice;
                }

                ReleaseChat(output, force: false);
                call = new StreamCall(delta.Choice, delta.Index);
                _calls.Add(call);
            }

            if (delta.Id is { } id)
            {
                call.Id = id;
            }

            call.Name.Append(delta.Name);
            call.Arguments.Write(delta.Arguments);
        }

        _held.Add(new Held(evt.ToArray(), data.ToArray(), true, chunk.Finishes, chunk.Text, chunk.TextChoice));
        if (chunk.Finishes is not null)
        {
            CompleteChoices(chunk.Finishes);
            ReleaseChat(output, force: false);
        }
    }

    private void CompleteChoices(List<(int Choice, int Start, int End)> finishes)
    {
        foreach (var call in _calls)
        {
            foreach (var finish in finishes)
            {
                call.Complete |= call.Choice == finish.Choice;
            }
        }
    }

    /// <summary>
    /// Decides and releases the held events once every call they carry is complete (or at the end). All allowed:
    /// they go out as they came. Otherwise the allowed calls go out whole, one chunk each, and each refused call as
    /// a content chunk with its explanation (after any text that was held with it).
    /// </summary>
    private void ReleaseChat(IBufferWriter<byte> output, bool force)
    {
        if (_held.Count == 0)
        {
            _calls.Clear();
            return;
        }

        foreach (var call in _calls)
        {
            if (!call.Complete && !force)
            {
                return;
            }
        }

        var anyRefused = false;
        foreach (var call in _calls)
        {
            call.Refusal = Decide(call.Name.ToString(), call.Arguments.WrittenSpan);
            var counts = _choices.GetValueOrDefault(call.Choice);
            _choices[call.Choice] = call.Refusal is null ? (counts.Kept + 1, counts.Refused) : (counts.Kept, counts.Refused + 1);
            anyRefused |= call.Refusal is not null;
        }

        var replaced = false;
        foreach (var held in _held)
        {
            if (!held.Tool || !anyRefused)
            {
                WriteWithFinish(held.Event, held.Data, held.Finishes, output);
                continue;
            }

            if (!replaced)
            {
                replaced = true;
                WriteReplacements(output);
            }

            if (held.Finishes is not null)
            {
                foreach (var finish in held.Finishes)
                {
                    WriteChunk(output, finish.Choice, null, FinishFor(finish.Choice));
                }
            }
        }

        _held.Clear();
        _calls.Clear();
    }

    private void WriteReplacements(IBufferWriter<byte> output)
    {
        foreach (var call in _calls)
        {
            if (call.Refusal is null)
            {
                WriteChunk(output, call.Choice, call, null);
            }
        }

        // One content chunk per choice: the text held with its calls, then the explanations.
        var written = new HashSet<int>();
        foreach (var call in _calls)
        {
            if (call.Refusal is null || !written.Add(call.Choice))
            {
                continue;
            }

            var text = new StringBuilder();
            foreach (var held in _held)
            {
                if (held.Text is { } t && held.TextChoice == call.Choice)
                {
                    text.Append(t);
                }
            }

            foreach (var refused in _calls)
            {
                if (refused.Choice == call.Choice && refused.Refusal is { } r)
                {
                    text.Append(text.Length > 0 ? "\n\n" : "").Append(r);
                }
            }

            WriteChunk(output, call.Choice, null, null, text.ToString());
        }
    }

    private string FinishFor(int choice) =>
        _choices.TryGetValue(choice, out var counts) && counts.Refused > 0 && counts.Kept == 0 ? "stop" : "tool_calls";

    /// <summary>Writes an event, with <c>finish_reason</c> <c>tool_calls</c> made <c>stop</c> for a choice whose calls were all refused.</summary>
    private void WriteWithFinish(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> data, List<(int Choice, int Start, int End)>? finishes, IBufferWriter<byte> output)
    {
        List<Edit>? edits = null;
        if (finishes is not null)
        {
            foreach (var finish in finishes)
            {
                var value = data[finish.Start..finish.End];
                if (FinishFor(finish.Choice) == "stop" && (value.SequenceEqual("\"tool_calls\""u8) || value.SequenceEqual("\"function_call\""u8)))
                {
                    (edits ??= []).Add(new Edit(finish.Start, finish.End, "\"stop\""u8.ToArray()));
                }
            }
        }

        if (edits is null)
        {
            output.Write(evt);
            return;
        }

        output.Write("data: "u8);
        output.Write(Apply(data, edits));
        output.Write("\n\n"u8);
    }

    /// <summary>A chunk of its own: one allowed call whole, a content text, or a finish reason.</summary>
    private void WriteChunk(IBufferWriter<byte> output, int choice, StreamCall? call, string? finish, string? content = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStartObject();
            writer.WriteNumber("index"u8, choice);
            writer.WriteStartObject("delta"u8);
            if (content is not null)
            {
                writer.WriteString("role"u8, "assistant"u8);
                writer.WriteString("content"u8, content);
            }

            if (call is not null)
            {
                writer.WriteStartArray("tool_calls"u8);
                writer.WriteStartObject();
                writer.WriteNumber("index"u8, call.Index);
                writer.WriteString("id"u8, call.Id);
                writer.WriteString("type"u8, "function"u8);
                writer.WriteStartObject("function"u8);
                writer.WriteString("name"u8, call.Name.ToString());
                writer.WriteString("arguments"u8, call.Arguments.WrittenSpan);
                writer.WriteEndObject();
                writer.WriteEndObject();
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            writer.WriteNull("logprobs"u8);
            writer.WriteString("finish_reason"u8, finish);

            writer.WriteEndObject();
            writer.WriteEndArray();
        }

        output.Write("data: {"u8);
        if (_envelope is { Length: > 0 } envelope)
        {
            output.Write(envelope);
            output.Write(","u8);
        }

        output.Write("\"choices\":"u8);
        output.Write(buffer.WrittenSpan);
        output.Write("}\n\n"u8);
    }

    /// <summary>What one chat chunk says about tool calls, finish reasons and text.</summary>
    private sealed class ChatChunk
    {
        public List<(int Choice, int Index, string? Id, string? Name, byte[] Arguments)> Deltas { get; } = [];

        public List<(int Choice, int Start, int End)>? Finishes { get; private set; }

        public string? Text { get; private set; }

        public int TextChoice { get; private set; }

        /// <summary>Reads the chunk; the first time, keeps its envelope (id, object, created, model, system_fingerprint) for chunks of our own.</summary>
        public void Read(ReadOnlySpan<byte> data, ref byte[]? envelope)
        {
            var reader = new Utf8JsonReader(data);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return;
            }

            var keep = envelope is null ? new ArrayBufferWriter<byte>() : null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var nameStart = (int)reader.TokenStartIndex;
                if (keep is not null && (reader.ValueTextEquals("id"u8) || reader.ValueTextEquals("object"u8) || reader.ValueTextEquals("created"u8)
                    || reader.ValueTextEquals("model"u8) || reader.ValueTextEquals("system_fingerprint"u8)))
                {
                    JsonMember.SkipValue(ref reader);
                    if (keep.WrittenCount > 0)
                    {
                        keep.Write(","u8);
                    }

                    keep.Write(data[nameStart..(int)reader.BytesConsumed]);
                    continue;
                }

                if (!JsonMember.Enter(ref reader, "choices"u8, JsonTokenType.StartArray))
                {
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadChoice(ref reader);
                }
            }

            if (keep is not null)
            {
                envelope = keep.WrittenSpan.ToArray();
            }
        }

        private void ReadChoice(ref Utf8JsonReader reader)
        {
            var choice = 0;
            int finishStart = -1, finishEnd = -1;
            var firstDelta = Deltas.Count;
            string? text = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    choice = JsonMember.Int32(ref reader, 0);
                }
                else if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        finishStart = (int)reader.TokenStartIndex;
                        finishEnd = (int)reader.BytesConsumed;
                    }

                    reader.Skip();
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("content"u8))
                        {
                            text = JsonMember.String(ref reader);
                        }
                        else if (reader.ValueTextEquals("tool_calls"u8))
                        {
                            reader.Read();
                            ReadToolCalls(ref reader);
                        }
                        else
                        {
                            JsonMember.SkipValue(ref reader);
                        }
                    }
                }
                else
                {
                    JsonMember.SkipValue(ref reader);
                }
            }

            // The choice index may follow the delta in the object.
            for (var d = firstDelta; d < Deltas.Count; d++)
            {
                Deltas[d] = Deltas[d] with { Choice = choice };
            }

            if (finishStart >= 0)
            {
                (Finishes ??= []).Add((choice, finishStart, finishEnd));
            }

            if (text is { Length: > 0 })
            {
                Text = text;
                TextChoice = choice;
            }
        }

        private void ReadToolCalls(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                reader.Skip();
                return;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var index = 0;
                string? id = null, name = null;
                byte[] arguments = [];
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("index"u8))
                    {
                        index = JsonMember.Int32(ref reader, 0);
                    }
                    else if (reader.ValueTextEquals("id"u8))
                    {
                        id = JsonMember.String(ref reader);
                    }
                    else if (reader.ValueTextEquals("function"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                            {
                                if (reader.ValueTextEquals("name"u8))
                                {
                                    name = JsonMember.String(ref reader);
                                }
                                else if (reader.ValueTextEquals("arguments"u8))
                                {
                                    arguments = JsonMember.Utf8(ref reader);
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
                            reader.Skip();
                        }

                        continue;
                    }
                    else
                    {
                        reader.Read();
                    }

                    reader.Skip();
                }

                Deltas.Add((0, index, id, name, arguments));
            }
        }
    }

    // ---- Anthropic message events ----

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
                if (e.Type == AnthropicEventType.MessageDelta && _refusedBlocks > 0 && _keptBlocks == 0 && e.StopStart >= 0
                    && data[e.StopStart..e.StopEnd].SequenceEqual("\"tool_use\""u8))
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

    private int _keptBlocks;
    private int _refusedBlocks;

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
        output.Write(Encoding.UTF8.GetBytes($"event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":{index},\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"));
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

    private enum AnthropicEventType : byte { Other, ToolUseStart, Delta, Stop, MessageDelta, MessageStop }

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
            int index = -1, stopStart = -1, stopEnd = -1;
            string? id = null, name = null;
            byte[] partial = [];
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.ValueTextEquals("content_block_start"u8) ? AnthropicEventType.ToolUseStart
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
