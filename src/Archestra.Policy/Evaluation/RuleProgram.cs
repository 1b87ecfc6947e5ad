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

    /// <summary>
    /// Regex candidates remembered during the pass (16 B each); more are evaluated on the spot. A regex call
    /// costs tens of ns even on a short string, and most rules fail on a cheap condition first: deferring
    /// regexes until a rule needs them took the 1,000-policy email benchmark from ~900 ns to ~400 ns.
    /// </summary>
    private const int DeferredCapacity = 32;

    /// <summary>Which precedence classes have at least one rule: no rule in the mask means nothing to read.</summary>
    private readonly int _precedences = PrecedencesOf(rules);

    public CompiledRule[] Rules => rules;

    /// <summary>
    /// Reads <paramref name="json"/> once and returns the index of the first rule whose precedence bit is
    /// set in <paramref name="precedenceMask"/> and whose conditions all match; <see cref="NoMatch"/>, or
    /// <see cref="Malformed"/> when the document is not valid JSON.
    /// </summary>
    public int FirstMatch(ReadOnlySpan<byte> json, int precedenceMask)
    {
        if ((_precedences & precedenceMask) == 0)
        {
            return NoMatch;
        }

        var words = (conditions.Length + 63) >> 6;
        ulong[]? rented = null;
        var bits = words <= StackWords ? stackalloc ulong[StackWords] : (rented = ArrayPool<ulong>.Shared.Rent(words));
        bits = bits[..words];
        bits.Clear();
        Span<Deferred> deferred = stackalloc Deferred[DeferredCapacity];
        try
        {
            var trustedOnly = precedenceMask == Precedence.TrustedInvocationMask;
            if (!Scan(json, bits, deferred, trustedOnly, out var pending))
            {
                return Malformed;
            }

            deferred = deferred[..pending];
            for (var i = 0; i < rules.Length; i++)
            {
                var rule = rules[i];
                if ((precedenceMask & (1 << rule.Precedence)) != 0 && Matches(rule, json, bits, deferred))
                {
                    return i;
                }
            }

            return NoMatch;
        }
        catch (InvalidOperationException)
        {
            // A deferred string that does not unescape (an escaped lone surrogate).
            return Malformed;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<ulong>.Shared.Return(rented);
            }
        }
    }

    private static int PrecedencesOf(CompiledRule[] rules)
    {
        var mask = 0;
        foreach (var rule in rules)
        {
            mask |= 1 << rule.Precedence;
        }

        return mask;
    }

    /// <summary>Cheap conditions were decided during the pass; regex conditions only now, and only if the rest of the rule matched.</summary>
    private bool Matches(CompiledRule rule, ReadOnlySpan<byte> json, Span<ulong> bits, Span<Deferred> deferred)
    {
        var end = rule.ConditionStart + rule.ConditionCount;
        for (var c = rule.ConditionStart; c < end; c++)
        {
            if (!IsSet(bits, c) && !conditions[c].IsRegex)
            {
                return false;
            }
        }

        for (var c = rule.ConditionStart; c < end; c++)
        {
            if (!IsSet(bits, c) && !ResolveDeferred(c, json, bits, deferred))
            {
                return false;
            }
        }

        return true;
    }

    private bool ResolveDeferred(int condition, ReadOnlySpan<byte> json, Span<ulong> bits, Span<Deferred> deferred)
    {
        for (var i = 0; i < deferred.Length; i++)
        {
            ref var candidate = ref deferred[i];
            if (candidate.Condition != condition)
            {
                continue;
            }

            candidate.Condition = -1;
            if (MatchesAt(conditions[condition], json, candidate))
            {
                bits[condition >> 6] |= 1UL << (condition & 63);
                return true;
            }
        }

        return false;
    }

    private static bool MatchesAt(CompiledCondition condition, ReadOnlySpan<byte> json, in Deferred candidate)
    {
        if (!candidate.Escaped)
        {
            return condition.Matches(json.Slice(candidate.Start, candidate.Length));
        }

        // Start is the opening quote: a reader over the quoted token unescapes it.
        var reader = new Utf8JsonReader(json.Slice(candidate.Start, candidate.Length + 2));
        reader.Read();
        byte[]? rented = null;
        var buffer = candidate.Length <= ScratchBytes ? stackalloc byte[ScratchBytes] : (rented = ArrayPool<byte>.Shared.Rent(candidate.Length));
        try
        {
            return condition.Matches(buffer[..reader.CopyString(buffer)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static bool IsSet(ReadOnlySpan<ulong> bits, int c) => (bits[c >> 6] & (1UL << (c & 63))) != 0;

    /// <summary>
    /// One forward pass: the automaton follows the reader; containers no path enters are skipped (the
    /// reader still validates them); each scalar at a state with conditions sets the bits of the cheap
    /// conditions it satisfies and remembers itself for the regex ones. Empty input is <c>{}</c>.
    /// </summary>
    private bool Scan(ReadOnlySpan<byte> json, Span<ulong> bits, Span<Deferred> deferred, bool trustedOnly, out int pending)
    {
        pending = 0;
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
                        if (state >= 0)
                        {
                            var attached = trustedOnly ? states[state].TrustedConditions : states[state].Conditions;
                            if (attached.Length > 0)
                            {
                                Evaluate(ref reader, attached, bits, scratch, deferred, ref pending);
                            }
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

    private void Evaluate(ref Utf8JsonReader reader, int[] attached, Span<ulong> bits, scoped Span<byte> scratch, Span<Deferred> deferred, ref int pending)
    {
        byte[]? rented = null;
        scoped ReadOnlySpan<byte> text = default;
        var haveText = false;
        var escaped = reader.TokenType == JsonTokenType.String && reader.ValueIsEscaped;
        try
        {
            foreach (var c in attached)
            {
                ref var word = ref bits[c >> 6];
                var bit = 1UL << (c & 63);
                if ((word & bit) != 0)
                {
                    continue;
                }

                var condition = conditions[c];
                if (condition.IsRegex && pending < deferred.Length)
                {
                    var start = (int)reader.TokenStartIndex;
                    deferred[pending++] = new Deferred(
                        c,
                        escaped || reader.TokenType != JsonTokenType.String ? start : start + 1,
                        reader.ValueSpan.Length,
                        escaped
                    );
                    continue;
                }

                if (!haveText)
                {
                    if (escaped)
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

                    haveText = true;
                }

                if (condition.Matches(text))
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

    /// <summary>A value a regex condition still has to be tried on: where it is in the document.</summary>
    private record struct Deferred(int Condition, int Start, int Length, bool Escaped);
}
