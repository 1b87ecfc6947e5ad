using System.Buffers;
using System.Text.Json;

namespace Archestra.Policy.Evaluation;

/// <summary>One compiled policy: its precedence class (an index into the list's order) and its conditions,
/// which are the contiguous range <c>[ConditionStart, ConditionStart + ConditionCount)</c> of the program's.</summary>
internal sealed class CompiledRule(int precedence, int conditionStart, int conditionCount, string id, string reason)
{
    public int Precedence { get; } = precedence;

    public int ConditionStart { get; } = conditionStart;

    public int ConditionCount { get; } = conditionCount;

    public string Id { get; } = id;

    public string Reason { get; } = reason;
}

/// <summary>
/// The rules of one tool for one list (tool invocation or trusted data) in one profile: rules sorted by
/// precedence then definition order, their conditions, and the path automaton of every key path they use.
/// </summary>
internal sealed class RuleProgram(PathState[] states, CompiledCondition[] conditions, CompiledRule[] rules)
{
    public const int NoMatch = -1;
    public const int Malformed = -2;

    /// <summary>Bitsets up to this many words (1,024 conditions, 128 B) live on the stack.</summary>
    private const int StackWords = 16;

    /// <summary>Property names and escaped strings up to this many bytes are unescaped on the stack.</summary>
    private const int ScratchBytes = 256;

    /// <summary><see cref="JsonReaderOptions.MaxDepth"/>'s default; a deeper document fails to read.</summary>
    private const int MaxFrames = 64;

    public CompiledRule[] Rules => rules;

    /// <summary>
    /// Reads <paramref name="json"/> once and returns the index of the first rule whose precedence bit is
    /// set in <paramref name="precedenceMask"/> and whose conditions all match; <see cref="NoMatch"/>, or
    /// <see cref="Malformed"/> when the document is not valid JSON.
    /// </summary>
    public int FirstMatch(ReadOnlySpan<byte> json, int precedenceMask)
    {
        var words = (conditions.Length + 63) >> 6;
        ulong[]? rented = null;
        var bits = words <= StackWords
            ? stackalloc ulong[StackWords]
            : (rented = ArrayPool<ulong>.Shared.Rent(words));
        bits = bits[..words];
        bits.Clear();
        try
        {
            if (!Scan(json, bits))
            {
                return Malformed;
            }

            for (var i = 0; i < rules.Length; i++)
            {
                var rule = rules[i];
                if ((precedenceMask & (1 << rule.Precedence)) != 0 && AllSet(bits, rule.ConditionStart, rule.ConditionCount))
                {
                    return i;
                }
            }

            return NoMatch;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<ulong>.Shared.Return(rented);
            }
        }
    }

    private static bool AllSet(ReadOnlySpan<ulong> bits, int start, int count)
    {
        for (var c = start; c < start + count; c++)
        {
            if ((bits[c >> 6] & (1UL << (c & 63))) == 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// One forward pass: the automaton follows the reader; containers no path enters are skipped (the
    /// reader still validates them); each scalar at a state with conditions sets the bits of the conditions
    /// it satisfies. Empty input is <c>{}</c>.
    /// </summary>
    private bool Scan(ReadOnlySpan<byte> json, Span<ulong> bits)
    {
        if (json.IsEmpty)
        {
            return true;
        }

        Span<byte> scratch = stackalloc byte[ScratchBytes];
        Span<int> frameState = stackalloc int[MaxFrames + 1];
        Span<int> frameNext = stackalloc int[MaxFrames + 1];
        var reader = new Utf8JsonReader(json);
        var depth = 0;
        try
        {
            if (!reader.Read())
            {
                return false;
            }

            var state = 0;
            while (true)
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        if (state >= 0 && states[state].EntersObjects)
                        {
                            frameState[depth] = state;
                            frameNext[depth++] = -1;
                        }
                        else
                        {
                            reader.Skip();
                        }

                        break;
                    case JsonTokenType.StartArray:
                        if (state >= 0 && states[state].EntersArrays)
                        {
                            frameState[depth] = state;
                            frameNext[depth++] = 0;
                        }
                        else
                        {
                            reader.Skip();
                        }

                        break;
                    default:
                        if (state >= 0 && states[state].Conditions.Length > 0)
                        {
                            Evaluate(ref reader, states[state].Conditions, bits, scratch);
                        }

                        break;
                }

                // Advance to the next value and the state it is reached in.
                while (true)
                {
                    if (!reader.Read())
                    {
                        return true;
                    }

                    var token = reader.TokenType;
                    if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
                    {
                        depth--;
                        continue;
                    }

                    var frame = depth - 1;
                    if (token == JsonTokenType.PropertyName)
                    {
                        state = Property(ref reader, states[frameState[frame]], scratch);
                        reader.Read();
                    }
                    else
                    {
                        state = states[frameState[frame]].Element(frameNext[frame]++);
                    }

                    break;
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            // CopyString refuses escapes that decode to invalid UTF-16 (a lone surrogate).
            return false;
        }
    }

    private static int Property(ref Utf8JsonReader reader, PathState state, scoped Span<byte> scratch)
    {
        if (!reader.ValueIsEscaped)
        {
            return state.Property(reader.ValueSpan);
        }

        var length = reader.ValueSpan.Length;
        byte[]? rented = null;
        var buffer = length <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            return state.Property(buffer[..reader.CopyString(buffer)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private void Evaluate(ref Utf8JsonReader reader, int[] attached, Span<ulong> bits, scoped Span<byte> scratch)
    {
        byte[]? rented = null;
        scoped ReadOnlySpan<byte> text;
        if (reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped)
        {
            var length = reader.ValueSpan.Length;
            var buffer = length <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(length));
            text = buffer[..reader.CopyString(buffer)];
        }
        else
        {
            // Strings unescaped as they are; numbers as written; true, false and null as their literals.
            text = reader.ValueSpan;
        }

        try
        {
            foreach (var c in attached)
            {
                ref var word = ref bits[c >> 6];
                var bit = 1UL << (c & 63);
                if ((word & bit) == 0 && conditions[c].Matches(text))
                {
                    word |= bit;
                }
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
