using System.Text;
using System.Text.Json;

namespace Archestra.Policy.Llm;

internal enum ToonKind : byte
{
    Null,
    False,
    True,
    Number,
    String,
    Array,
    Object,
}

/// <summary>
/// A parsed JSON value. Tabular detection needs to look at whole arrays before writing their header, so the encoder
/// works on a small tree rather than streaming. Numbers keep their canonical decimal text (lossless, see
/// <see cref="ToonNumber"/>). Duplicate object keys follow JSON.parse: the last value wins, at the first key's place.
/// </summary>
internal sealed class ToonNode
{
    private const int IndexThreshold = 8;

    private List<KeyValuePair<string, ToonNode>>? _properties;
    private Dictionary<string, int>? _index;

    private ToonNode(ToonKind kind, string? text = null)
    {
        Kind = kind;
        Text = text;
    }

    public static ToonNode Null { get; } = new(ToonKind.Null);

    public static ToonNode False { get; } = new(ToonKind.False);

    public static ToonNode True { get; } = new(ToonKind.True);

    public ToonKind Kind { get; }

    /// <summary>The string value, or a number's canonical text.</summary>
    public string? Text { get; }

    public List<ToonNode>? Items { get; private init; }

    public IReadOnlyList<KeyValuePair<string, ToonNode>> Properties => _properties ?? [];

    public bool IsPrimitive => Kind < ToonKind.Array;

    public bool IsNonEmptyObject => Kind == ToonKind.Object && _properties!.Count > 0;

    public ToonNode? Get(string key)
    {
        if (_index is not null)
        {
            return _index.TryGetValue(key, out var i) ? _properties![i].Value : null;
        }

        foreach (var property in _properties!)
        {
            if (property.Key == key)
            {
                return property.Value;
            }
        }

        return null;
    }

    private void Set(string key, ToonNode value)
    {
        var properties = _properties!;
        if (_index is not null)
        {
            if (_index.TryGetValue(key, out var at))
            {
                properties[at] = new(key, value);
                return;
            }

            _index[key] = properties.Count;
            properties.Add(new(key, value));
            return;
        }

        for (var i = 0; i < properties.Count; i++)
        {
            if (properties[i].Key == key)
            {
                properties[i] = new(key, value);
                return;
            }
        }

        properties.Add(new(key, value));
        if (properties.Count > IndexThreshold)
        {
            _index = new Dictionary<string, int>(properties.Count * 2, StringComparer.Ordinal);
            for (var i = 0; i < properties.Count; i++)
            {
                _index[properties[i].Key] = i;
            }
        }
    }

    /// <summary>Parses one JSON document; null when it is not valid JSON (or holds a lone surrogate escape).</summary>
    public static ToonNode? Parse(ReadOnlySpan<byte> json, int maxDepth)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = maxDepth, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read())
            {
                return null;
            }

            var root = ReadValue(ref reader);
            return reader.Read() ? null : root;
        }
        catch (JsonException)
        {
            return null;
        }
        catch (InvalidOperationException)
        {
            // GetString on an escaped lone surrogate.
            return null;
        }
    }

    private static ToonNode ReadValue(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return Null;
            case JsonTokenType.True:
                return True;
            case JsonTokenType.False:
                return False;
            case JsonTokenType.Number:
                return new ToonNode(
                    ToonKind.Number,
                    ToonNumber.Canonical(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan)
                );
            case JsonTokenType.String:
                return new ToonNode(ToonKind.String, reader.GetString());
            case JsonTokenType.StartArray:
            {
                var items = new List<ToonNode>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    items.Add(ReadValue(ref reader));
                }

                return new ToonNode(ToonKind.Array) { Items = items };
            }

            case JsonTokenType.StartObject:
            {
                var node = new ToonNode(ToonKind.Object) { _properties = [] };
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    node.Set(key, ReadValue(ref reader));
                }

                return node;
            }

            default:
                throw new JsonException("unexpected token " + reader.TokenType);
        }
    }

    public override string ToString() =>
        Kind switch
        {
            ToonKind.String or ToonKind.Number => Text!,
            _ => Kind.ToString(),
        };
}

/// <summary>
/// TOON spec §2 number form, computed on the JSON literal's decimal digits instead of a double: the layout follows
/// ECMAScript Number::toString (plain decimal when 1e-6 ≤ |n| &lt; 1e21, else <c>d.ddde±x</c>), so ordinary numbers
/// come out exactly as the reference encoder writes them, but no digit is ever lost (the reference goes through a
/// double: 12345678901234567890 becomes 12345678901234567000 there, and 1e400 becomes null). -0 → 0, 1.50 → 1.5,
/// 1E2 → 100. This is the documented numeric domain (spec §2): arbitrary-precision decimals, emitted losslessly.
/// </summary>
internal static class ToonNumber
{
    public static string Canonical(ReadOnlySpan<byte> literal)
    {
        var i = 0;
        var negative = literal[0] == (byte)'-';
        if (negative)
        {
            i++;
        }

        var digits = new StringBuilder(literal.Length);
        long point = 0;
        for (; i < literal.Length && char.IsAsciiDigit((char)literal[i]); i++)
        {
            digits.Append((char)literal[i]);
            point++;
        }

        if (i < literal.Length && literal[i] == (byte)'.')
        {
            for (i++; i < literal.Length && char.IsAsciiDigit((char)literal[i]); i++)
            {
                digits.Append((char)literal[i]);
            }
        }

        if (i < literal.Length && (literal[i] | 0x20) == (byte)'e')
        {
            i++;
            var expNegative = literal[i] == (byte)'-';
            if (literal[i] is (byte)'-' or (byte)'+')
            {
                i++;
            }

            long exp = 0;
            for (; i < literal.Length; i++)
            {
                // Saturate: an exponent this large only moves the point further out, never changes the digits.
                exp = Math.Min(exp * 10 + (literal[i] - '0'), 1_000_000_000_000L);
            }

            point += expNegative ? -exp : exp;
        }

        var start = 0;
        while (start < digits.Length && digits[start] == '0')
        {
            start++;
            point--;
        }

        var end = digits.Length;
        while (end > start && digits[end - 1] == '0')
        {
            end--;
        }

        if (start == end)
        {
            return "0";
        }

        var d = digits.ToString(start, end - start);
        var k = d.Length;
        var n = point;
        var sb = new StringBuilder(k + 8);
        if (negative)
        {
            sb.Append('-');
        }

        if (k <= n && n <= 21)
        {
            sb.Append(d).Append('0', (int)(n - k));
        }
        else if (0 < n && n <= 21)
        {
            sb.Append(d, 0, (int)n).Append('.').Append(d, (int)n, k - (int)n);
        }
        else if (-6 < n && n <= 0)
        {
            sb.Append("0.").Append('0', (int)-n).Append(d);
        }
        else
        {
            var e = n - 1;
            sb.Append(d[0]);
            if (k > 1)
            {
                sb.Append('.').Append(d, 1, k - 1);
            }

            sb.Append('e').Append(e < 0 ? '-' : '+').Append(Math.Abs(e));
        }

        return sb.ToString();
    }
}
