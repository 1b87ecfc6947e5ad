using System.Buffers;
using System.Text.Json;
using Archestra.Runtime.Buffers;

namespace Archestra.Runtime.JsonRpc;

/// <summary>
/// A <see cref="Utf8JsonReader"/> that checks what <see cref="StrictJson.Check"/> checks while its caller reads, so a
/// parser that already walks every token (the JSON-RPC envelope) pays for one pass, not two. The caller reads with
/// <see cref="Read"/> and <see cref="Skip"/> only (the inner reader's own Skip would jump past the bookkeeping), then
/// asks <see cref="Finish"/>. With <c>strict: false</c> it is a plain reader.
/// </summary>
internal ref struct StrictJsonReader
{
    public const int InlineKeys = 64;
    public const int InlineNameBytes = 512;

    /// <summary>Objects up to this many keys are checked pairwise (cheaper than sorting at this size).</summary>
    private const int PairwiseKeys = 16;

    private readonly ReadOnlySpan<byte> _json;
    private readonly Span<int> _frames;
    private readonly int _maxDepth;
    private readonly bool _strict;
    private Utf8JsonReader _reader;
    private KeyStack _keys;
    private StrictJsonResult _found;

    /// <param name="keys">Inline key space (<see cref="InlineKeys"/>); more goes to pooled arrays.</param>
    /// <param name="names">Inline space for unescaped escaped names (<see cref="InlineNameBytes"/>).</param>
    /// <param name="frames"><see cref="Frames"/>(<paramref name="maxDepth"/>) ints.</param>
    public StrictJsonReader(ReadOnlySpan<byte> json, int maxDepth, bool strict, Span<Key> keys, Span<byte> names, Span<int> frames)
    {
        _json = json;
        _maxDepth = maxDepth;
        _strict = strict;
        _frames = frames;
        _keys = new KeyStack(keys, names);
        // One level more than the limit, so the check below reports TooDeep before the reader throws.
        _reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = maxDepth + 1 });
    }

    /// <summary>How many frame slots a reader with <paramref name="maxDepth"/> needs.</summary>
    public static int Frames(int maxDepth) => Math.Min(maxDepth, StrictJson.MessageMaxDepth) + 1;

    /// <summary>The first finding so far (<see cref="StrictJsonError.TooDeep"/> is also set just before the reader throws).</summary>
    public readonly StrictJsonResult Found => _found;

    public readonly JsonTokenType TokenType => _reader.TokenType;

    public readonly long TokenStartIndex => _reader.TokenStartIndex;

    public readonly long BytesConsumed => _reader.BytesConsumed;

    public readonly ReadOnlySpan<byte> ValueSpan => _reader.ValueSpan;

    public readonly bool ValueIsEscaped => _reader.ValueIsEscaped;

    public readonly bool ValueTextEquals(ReadOnlySpan<byte> text) => _reader.ValueTextEquals(text);

    public bool Read()
    {
        if (!_reader.Read())
        {
            return false;
        }

        if (_strict)
        {
            Track();
        }

        return true;
    }

    /// <summary>As <see cref="Utf8JsonReader.Skip"/>, through <see cref="Read"/>.</summary>
    public void Skip()
    {
        if (!_strict)
        {
            _reader.Skip();
            return;
        }

        if (_reader.TokenType == JsonTokenType.PropertyName)
        {
            Read();
        }

        if (_reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var depth = _reader.CurrentDepth;
            while (Read() && _reader.CurrentDepth > depth) { }
        }
    }

    /// <summary>The verdict once the whole text was read: the first finding, else whether the bytes are UTF-8.</summary>
    public readonly StrictJsonResult Finish()
    {
        if (!_strict || !_found.IsValid)
        {
            return _found;
        }

        // The reader takes any byte above 0x7F inside a string, so UTF-8 is checked on its own (vectorized).
        var invalidAt = StrictJson.FirstInvalidUtf8(_json);
        return invalidAt >= 0 ? new StrictJsonResult(StrictJsonError.InvalidUnicode, invalidAt) : default;
    }

    private void Track()
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.StartObject:
            case JsonTokenType.StartArray:
                if (_reader.CurrentDepth >= _maxDepth || _reader.CurrentDepth >= _frames.Length)
                {
                    _found = new StrictJsonResult(StrictJsonError.TooDeep, (int)_reader.TokenStartIndex);
                    throw new JsonException("nesting deeper than the limit");
                }

                if (_reader.TokenType == JsonTokenType.StartObject)
                {
                    _frames[_reader.CurrentDepth] = _keys.Count;
                }

                break;
            case JsonTokenType.EndObject:
                var first = _frames[_reader.CurrentDepth];
                var duplicate = _keys.FindDuplicate(_json, first);
                if (duplicate >= 0 && _found.IsValid)
                {
                    _found = new StrictJsonResult(StrictJsonError.DuplicateKey, duplicate);
                }

                _keys.PopTo(first);
                break;
            case JsonTokenType.PropertyName:
                if (!_keys.Push(in _reader) && _found.IsValid)
                {
                    _found = new StrictJsonResult(StrictJsonError.InvalidUnicode, (int)_reader.TokenStartIndex);
                }

                break;
            case JsonTokenType.String:
                if (_reader.ValueIsEscaped && !StrictJson.SurrogatesPair(_reader.ValueSpan) && _found.IsValid)
                {
                    _found = new StrictJsonResult(StrictJsonError.InvalidUnicode, (int)_reader.TokenStartIndex);
                }

                break;
        }
    }

    public void Dispose() => _keys.Dispose();

    /// <summary>A key of an open object: its hash and where its unescaped bytes are (the document, or the side buffer for escaped names).</summary>
    internal struct Key
    {
        public int Hash;
        public int Offset;
        public int Start;
        public int Length;
        public bool Side;
    }

    /// <summary>The keys of every open object, innermost last; grows into pooled arrays past the inline space.</summary>
    private ref struct KeyStack
    {
        private Span<Key> _keys;
        private Key[]? _rentedKeys;
        private Span<byte> _names;
        private byte[]? _rentedNames;
        private int _nameBytes;

        public KeyStack(Span<Key> keys, Span<byte> names)
        {
            _keys = keys;
            _names = names;
        }

        public int Count { get; private set; }

        /// <summary>Adds the current property name; false when its escapes do not decode.</summary>
        public bool Push(scoped in Utf8JsonReader reader)
        {
            if (Count == _keys.Length)
            {
                GrowKeys();
            }

            ref var key = ref _keys[Count++];
            key.Offset = (int)reader.TokenStartIndex;
            if (!reader.ValueIsEscaped)
            {
                key.Start = key.Offset + 1;
                key.Length = reader.ValueSpan.Length;
                key.Side = false;
                key.Hash = HashOf(reader.ValueSpan);
                return true;
            }

            // An escaped name is unescaped once into the side buffer, so "na\u006de" equals "name".
            var raw = reader.ValueSpan.Length;
            if (_names.Length - _nameBytes < raw)
            {
                GrowNames(raw);
            }

            int written;
            try
            {
                written = reader.CopyString(_names[_nameBytes..]);
            }
            catch (InvalidOperationException)
            {
                Count--;
                return false;
            }

            key.Start = _nameBytes;
            key.Length = written;
            key.Side = true;
            key.Hash = HashOf(_names.Slice(_nameBytes, written));
            _nameBytes += written;
            return true;
        }

        public void PopTo(int first)
        {
            // The frame's escaped names are the tail of the side buffer; they go with it.
            for (var i = first; i < Count; i++)
            {
                if (_keys[i].Side && _keys[i].Start < _nameBytes)
                {
                    _nameBytes = _keys[i].Start;
                }
            }

            Count = first;
        }

        /// <summary>Offset of a key of the object whose keys start at <paramref name="first"/> that repeats an earlier one, or -1.</summary>
        public readonly int FindDuplicate(ReadOnlySpan<byte> json, int first)
        {
            var keys = _keys[first..Count];
            if (keys.Length < 2)
            {
                return -1;
            }

            if (keys.Length <= PairwiseKeys)
            {
                for (var i = 1; i < keys.Length; i++)
                {
                    for (var j = 0; j < i; j++)
                    {
                        if (keys[i].Hash == keys[j].Hash && Name(json, keys[i]).SequenceEqual(Name(json, keys[j])))
                        {
                            return keys[i].Offset;
                        }
                    }
                }

                return -1;
            }

            // An open-addressing table of key indexes (+1; 0 is empty), at most half full: O(n) for the object. It
            // replaced sorting the hashes (O(n log n)); StrictManyKeys in bench/README.md measures 1,000 keys.
            var size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)keys.Length * 2);
            var pooled = size <= BytePool.MaxPooledLength / sizeof(int);
            var rented =
                size <= 1024 ? null
                : pooled ? ArrayPool<int>.Shared.Rent(size)
                : new int[size];
            var table = rented is null ? stackalloc int[size] : rented.AsSpan(0, size);
            table.Clear();
            try
            {
                var mask = size - 1;
                for (var i = 0; i < keys.Length; i++)
                {
                    var slot = keys[i].Hash & mask;
                    while (table[slot] != 0)
                    {
                        ref readonly var other = ref keys[table[slot] - 1];
                        if (other.Hash == keys[i].Hash && Name(json, keys[i]).SequenceEqual(Name(json, other)))
                        {
                            return keys[i].Offset;
                        }

                        slot = (slot + 1) & mask;
                    }

                    table[slot] = i + 1;
                }

                return -1;
            }
            finally
            {
                if (rented is not null && pooled)
                {
                    ArrayPool<int>.Shared.Return(rented);
                }
            }
        }

        private readonly ReadOnlySpan<byte> Name(ReadOnlySpan<byte> json, in Key key) =>
            key.Side ? _names.Slice(key.Start, key.Length) : json.Slice(key.Start, key.Length);

        private static int HashOf(ReadOnlySpan<byte> name)
        {
            var hash = new HashCode();
            hash.AddBytes(name);
            return hash.ToHashCode();
        }

        /// <summary>Key arrays up to the pool's byte bound (~52,000 keys) are pooled; larger ones are left to the GC (see BytePool).</summary>
        private static readonly int s_maxPooledKeys = BytePool.MaxPooledLength / System.Runtime.CompilerServices.Unsafe.SizeOf<Key>();

        private void GrowKeys()
        {
            var length = _keys.Length * 2;
            var bigger = length <= s_maxPooledKeys ? ArrayPool<Key>.Shared.Rent(length) : new Key[length];
            _keys.CopyTo(bigger);
            ReturnKeys();
            _rentedKeys = bigger;
            _keys = bigger;
        }

        private readonly void ReturnKeys()
        {
            if (_rentedKeys is not null && _rentedKeys.Length <= s_maxPooledKeys)
            {
                ArrayPool<Key>.Shared.Return(_rentedKeys);
            }
        }

        private void GrowNames(int need)
        {
            var bigger = BytePool.Rent(Math.Max(_names.Length * 2, _nameBytes + need));
            _names[.._nameBytes].CopyTo(bigger);
            if (_rentedNames is not null)
            {
                BytePool.Return(_rentedNames);
            }

            _rentedNames = bigger;
            _names = bigger;
        }

        public readonly void Dispose()
        {
            ReturnKeys();
            if (_rentedNames is not null)
            {
                BytePool.Return(_rentedNames);
            }
        }
    }
}
