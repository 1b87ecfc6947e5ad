using System.Text.Json;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Llm;

/// <summary>What one JSON document (a response body or one SSE event's data) turned out to be.</summary>
internal enum LlmEventType : byte
{
    Other,

    /// <summary>Carries model output: an OpenAI chunk with choices, Anthropic <c>content_block_delta</c>, a Responses <c>*.delta</c>.</summary>
    Token,

    /// <summary>The provider's documented last event: Anthropic <c>message_stop</c>, Responses <c>response.completed</c>/<c>.incomplete</c>.</summary>
    End,

    /// <summary>An error reported inside a 200 response: Anthropic <c>error</c> events, OpenAI <c>{"error":...}</c> chunks, <c>response.failed</c>.</summary>
    Error,
}

/// <summary>
/// Reads the few fields the proxy needs from provider JSON without a DOM: the model, usage (at the root,
/// or under Anthropic's <c>message</c> and the Responses API's <c>response</c>), the event type, and whether
/// an OpenAI chunk has choices. Works on whole documents (SSE events) and incrementally on a response body
/// fed chunk by chunk (<see cref="Feed"/>), keeping only the bytes of the one token that spans two chunks.
/// </summary>
internal sealed class LlmJsonScanner : IDisposable
{
    private const int MaxDepth = 8;

    private enum Frame : byte
    {
        Other,
        Root,
        Envelope,
        Usage,
        InputDetails,
        OutputDetails,
        Choices,

        /// <summary>One item of <c>choices</c> or Gemini's <c>candidates</c>.</summary>
        Choice,
    }

    private enum Name : byte
    {
        None,
        Other,
        Model,
        Type,
        Usage,
        Envelope,
        Choices,
        Error,
        Input,
        Output,
        CacheRead,
        CacheCreation,
        InputDetails,
        OutputDetails,
        CachedTokens,
        ReasoningTokens,
        CachedContent,
        Thoughts,
        FinishReason,
    }

    private readonly Frame[] _frames = new Frame[MaxDepth];
    private int _depth;
    private Name _name;
    private JsonReaderState _state;
    private byte[]? _pending;
    private int _pendingLength;
    private bool _failed;

    public LlmUsage Usage;

    public string? Model { get; private set; }

    /// <summary>The current document's type (reset by <see cref="ScanDocument"/>).</summary>
    public LlmEventType EventType { get; private set; }

    /// <summary>The current document had a <c>choices</c> array at its root, and how many items it held.</summary>
    public bool ChoicesSeen { get; private set; }

    public int ChoicesCount { get; private set; }

    /// <summary>The current document had a non-null <c>usage</c> object.</summary>
    public bool UsageSeenInDocument { get; private set; }

    /// <summary>
    /// Where a root <c>"usage":null</c> starts (the name's quote) and ends (after <c>null</c>) in the current
    /// document, or -1: OpenAI adds it to every chunk once usage is requested.
    /// </summary>
    public int UsageNullStart { get; private set; } = -1;

    public int UsageNullEnd { get; private set; } = -1;

    private int _usageNameStart;

    /// <summary>Scans one complete document (an SSE event's data); usage and model accumulate across documents.</summary>
    public void ScanDocument(ReadOnlySpan<byte> json)
    {
        EventType = LlmEventType.Other;
        ChoicesSeen = false;
        ChoicesCount = 0;
        UsageSeenInDocument = false;
        UsageNullStart = UsageNullEnd = -1;
        _depth = 0;
        _name = Name.None;
        try
        {
            var reader = new Utf8JsonReader(json, isFinalBlock: true, default);
            while (reader.Read())
            {
                Handle(ref reader);
            }
        }
        catch (JsonException)
        {
            // Not JSON: relayed unchanged, just not counted.
        }
    }

    /// <summary>Feeds the next chunk of one document; call with <paramref name="final"/> true at its end.</summary>
    public void Feed(ReadOnlySpan<byte> chunk, bool final)
    {
        if (_failed)
        {
            return;
        }

        if (_pendingLength == 0)
        {
            var consumed = Scan(chunk, final);
            if (!_failed && consumed < chunk.Length)
            {
                Keep(chunk[(int)consumed..]);
            }

            return;
        }

        // A token spans the boundary: join the kept bytes and the new chunk.
        Keep(chunk);
        var joined = _pending.AsSpan(0, _pendingLength);
        var used = (int)Scan(joined, final);
        joined[used..].CopyTo(_pending);
        _pendingLength -= used;
    }

    private long Scan(ReadOnlySpan<byte> data, bool final)
    {
        try
        {
            var reader = new Utf8JsonReader(data, final, _state);
            while (reader.Read())
            {
                Handle(ref reader);
            }

            _state = reader.CurrentState;
            return reader.BytesConsumed;
        }
        catch (JsonException)
        {
            _failed = true;
            return data.Length;
        }
    }

    private void Keep(ReadOnlySpan<byte> bytes)
    {
        var needed = _pendingLength + bytes.Length;
        if (_pending is null || _pending.Length < needed)
        {
            var bigger = BytePool.Rent(Math.Max(needed, 4096));
            if (_pending is not null)
            {
                _pending.AsSpan(0, _pendingLength).CopyTo(bigger);
                BytePool.Return(_pending);
            }

            _pending = bigger;
        }

        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength = needed;
    }

    private Frame Current => _depth == 0 ? Frame.Other : _frames[Math.Min(_depth, MaxDepth) - 1];

    private void Handle(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.PropertyName:
                _name = Classify(ref reader, Current);
                if (_name == Name.Usage && _depth == 1)
                {
                    _usageNameStart = (int)reader.TokenStartIndex;
                }

                return;
            case JsonTokenType.StartObject:
            case JsonTokenType.StartArray:
                var parent = Current;
                var isObject = reader.TokenType == JsonTokenType.StartObject;
                CountChoice(parent);
                var frame = _depth == 0 ? Frame.Root : Derive(parent, _name, isObject);
                if (frame == Frame.Usage)
                {
                    Usage.Seen = true;
                    UsageSeenInDocument = true;
                }
                else if (frame == Frame.Choices)
                {
                    ChoicesSeen = true;
                }
                else if (parent == Frame.Root && _name == Name.Error && isObject)
                {
                    EventType = LlmEventType.Error;
                }

                if (_depth < MaxDepth)
                {
                    _frames[_depth] = frame;
                }

                _depth++;
                _name = Name.None;
                return;
            case JsonTokenType.EndObject:
            case JsonTokenType.EndArray:
                _depth--;
                _name = Name.None;
                return;
            case JsonTokenType.Number:
                HandleNumber(ref reader);
                break;
            case JsonTokenType.String:
                HandleString(ref reader);
                break;
            case JsonTokenType.Null when _name == Name.Usage && _depth == 1:
                UsageNullStart = _usageNameStart;
                UsageNullEnd = (int)reader.TokenStartIndex + 4;
                break;
            default:
                CountChoice(Current);
                break;
        }

        _name = Name.None;
    }

    private void CountChoice(Frame frame)
    {
        if (frame == Frame.Choices)
        {
            ChoicesCount++;
        }
    }

    private void HandleNumber(ref Utf8JsonReader reader)
    {
        var frame = Current;
        CountChoice(frame);
        if (!reader.TryGetInt64(out var value) || value < 0)
        {
            return;
        }

        switch (frame, _name)
        {
            case (Frame.Usage, Name.Input):
                Usage.Input = value;
                break;
            case (Frame.Usage, Name.Output):
                Usage.Output = value;
                break;
            case (Frame.Usage, Name.CacheRead):
                Usage.CacheRead = value;
                break;
            case (Frame.Usage, Name.CacheCreation):
                Usage.CacheCreation = value;
                break;
            case (Frame.InputDetails, Name.CachedTokens):
                Usage.CachedDetail = value;
                break;
            case (Frame.OutputDetails, Name.ReasoningTokens):
                Usage.Reasoning = value;
                break;
            case (Frame.Usage, Name.CachedContent):
                Usage.CachedDetail = value;
                break;
            case (Frame.Usage, Name.Thoughts):
                Usage.Thoughts = value;
                break;
        }
    }

    private void HandleString(ref Utf8JsonReader reader)
    {
        var frame = Current;
        CountChoice(frame);
        if (frame == Frame.Choice && _name == Name.FinishReason && EventType != LlmEventType.Error)
        {
            EventType = LlmEventType.End;
            return;
        }

        if (frame is not (Frame.Root or Frame.Envelope))
        {
            return;
        }

        if (_name == Name.Model)
        {
            // Every chunk of a stream repeats the model: allocate the string only when it changes.
            if (Model is null || !reader.ValueTextEquals(Model))
            {
                Model = reader.GetString();
            }
        }
        else if (_name == Name.Type && frame == Frame.Root)
        {
            EventType = ClassifyType(ref reader);
        }
    }

    private static LlmEventType ClassifyType(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped || reader.HasValueSequence)
        {
            return LlmEventType.Other;
        }

        var type = reader.ValueSpan;
        if (type.SequenceEqual("content_block_delta"u8) || type.EndsWith(".delta"u8))
        {
            return LlmEventType.Token;
        }

        if (type.SequenceEqual("message_stop"u8) || type.SequenceEqual("response.completed"u8) || type.SequenceEqual("response.incomplete"u8))
        {
            return LlmEventType.End;
        }

        if (type.SequenceEqual("error"u8) || type.SequenceEqual("response.failed"u8))
        {
            return LlmEventType.Error;
        }

        return LlmEventType.Other;
    }

    private static Frame Derive(Frame parent, Name name, bool isObject)
    {
        if (!isObject)
        {
            return parent == Frame.Root && name == Name.Choices ? Frame.Choices : Frame.Other;
        }

        return (parent, name) switch
        {
            (Frame.Root, Name.Usage) or (Frame.Envelope, Name.Usage) => Frame.Usage,
            (Frame.Root, Name.Envelope) => Frame.Envelope,
            (Frame.Usage, Name.InputDetails) => Frame.InputDetails,
            (Frame.Usage, Name.OutputDetails) => Frame.OutputDetails,
            (Frame.Choices, _) => Frame.Choice,
            _ => Frame.Other,
        };
    }

    private static Name Classify(ref Utf8JsonReader reader, Frame frame)
    {
        if (frame is Frame.Other or Frame.Choices)
        {
            return Name.Other;
        }

        // Gemini's candidates say in each chunk whether the answer ended (there is no [DONE]).
        if (frame == Frame.Choice)
        {
            return reader.ValueTextEquals("finishReason"u8) ? Name.FinishReason : Name.Other;
        }

        if (frame is Frame.Root or Frame.Envelope)
        {
            return reader.ValueTextEquals("model"u8) || reader.ValueTextEquals("modelVersion"u8) ? Name.Model
                : reader.ValueTextEquals("usage"u8) || reader.ValueTextEquals("usageMetadata"u8) ? Name.Usage
                : reader.ValueTextEquals("type"u8) ? Name.Type
                : frame == Frame.Root && (reader.ValueTextEquals("message"u8) || reader.ValueTextEquals("response"u8)) ? Name.Envelope
                : frame == Frame.Root && (reader.ValueTextEquals("choices"u8) || reader.ValueTextEquals("candidates"u8)) ? Name.Choices
                : frame == Frame.Root && reader.ValueTextEquals("error"u8) ? Name.Error
                : Name.Other;
        }

        if (frame == Frame.Usage)
        {
            return reader.ValueTextEquals("prompt_tokens"u8) || reader.ValueTextEquals("input_tokens"u8) || reader.ValueTextEquals("promptTokenCount"u8)
                    ? Name.Input
                : reader.ValueTextEquals("completion_tokens"u8) || reader.ValueTextEquals("output_tokens"u8) || reader.ValueTextEquals("candidatesTokenCount"u8)
                    ? Name.Output
                : reader.ValueTextEquals("cachedContentTokenCount"u8) ? Name.CachedContent
                : reader.ValueTextEquals("thoughtsTokenCount"u8) ? Name.Thoughts
                : reader.ValueTextEquals("cache_read_input_tokens"u8) ? Name.CacheRead
                : reader.ValueTextEquals("cache_creation_input_tokens"u8) ? Name.CacheCreation
                : reader.ValueTextEquals("prompt_tokens_details"u8) || reader.ValueTextEquals("input_tokens_details"u8) ? Name.InputDetails
                : reader.ValueTextEquals("completion_tokens_details"u8) || reader.ValueTextEquals("output_tokens_details"u8) ? Name.OutputDetails
                : Name.Other;
        }

        return reader.ValueTextEquals("cached_tokens"u8) ? Name.CachedTokens
            : reader.ValueTextEquals("reasoning_tokens"u8) ? Name.ReasoningTokens
            : Name.Other;
    }

    public void Dispose()
    {
        if (_pending is not null)
        {
            BytePool.Return(_pending);
            _pending = null;
        }
    }
}
