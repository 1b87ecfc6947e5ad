using System.Buffers;
using System.Text;

namespace Archestra.Policy.Llm;

/// <summary>Encoder options (TOON spec §13): indentation per level and the document delimiter.</summary>
public sealed record ToonOptions
{
    public static ToonOptions Default { get; } = new();

    /// <summary>Spaces per indentation level (spec default 2).</summary>
    public int Indent { get; init; } = 2;

    /// <summary>Comma (default), tab or pipe (spec §11).</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>Deepest JSON nesting accepted; deeper input is refused rather than risking the stack.</summary>
    public int MaxDepth { get; init; } = 256;
}

/// <summary>
/// JSON → TOON (Token-Oriented Object Notation), per the TOON specification v4.0 (github.com/toon-format/spec,
/// SPEC.md; toon-spec: 4.0): objects by indentation (§8), primitive arrays inline with [N] (§9.1), arrays of
/// primitive arrays as list items (§9.2), uniform object arrays as tables with a {fields} header including nested
/// field groups (§9.3), everything else as list items (§9.4, §10), uniform objects-of-objects in keyed tabular form
/// (§9.5), quoting and escaping (§7), canonical numbers (§2), no trailing spaces or newline (§12).
/// Tested byte-for-byte against the reference encoder, npm @toon-format/toon (version in toon-cases.json).
/// Two documented differences from that reference, both allowed by the spec: numbers keep every digit of the JSON
/// literal (<see cref="ToonNumber"/>), and object keys keep their encounter order even when they look like array
/// indices (JavaScript objects move such keys first; spec §2 requires encounter order).
/// </summary>
public static class Toon
{
    /// <summary>Encodes <paramref name="json"/>; throws <see cref="FormatException"/> when it is not valid JSON.</summary>
    public static string Encode(ReadOnlySpan<byte> json, ToonOptions? options = null) =>
        TryEncode(json, options) ?? throw new FormatException("the input is not a valid JSON document");

    /// <summary>Encodes <paramref name="json"/>, or returns null when it is not valid JSON.</summary>
    public static string? TryEncode(ReadOnlySpan<byte> json, ToonOptions? options = null)
    {
        options ??= ToonOptions.Default;
        if (options.Delimiter is not (',' or '\t' or '|') || options.Indent < 1)
        {
            throw new ArgumentException("delimiter must be ',', '\\t' or '|' and indent at least 1", nameof(options));
        }

        var root = ToonNode.Parse(json, options.MaxDepth);
        if (root is null)
        {
            return null;
        }

        var writer = new Writer(options);
        writer.Root(root);
        return writer.ToString();
    }

    /// <summary>Encodes <paramref name="json"/> as UTF-8 into <paramref name="output"/>; false (nothing written) when it is not valid JSON.</summary>
    public static bool TryEncode(ReadOnlySpan<byte> json, IBufferWriter<byte> output, ToonOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        var text = TryEncode(json, options);
        if (text is null)
        {
            return false;
        }

        var bytes = output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        output.Advance(Encoding.UTF8.GetBytes(text, bytes));
        return true;
    }

    /// <summary>A tabular column: a leaf, or a nested field group (§9.3).</summary>
    private sealed record Field(string Name, Field[]? Children);

    private sealed class Writer(ToonOptions options)
    {
        private readonly StringBuilder _out = new();
        private readonly char _delimiter = options.Delimiter;
        private readonly int _indent = options.Indent;
        private bool _any;

        public override string ToString() => _out.ToString();

        public void Root(ToonNode root)
        {
            if (root.IsPrimitive)
            {
                // A root string that starts with a byte-order mark is quoted so that it survives (reference encoder).
                var text = root.Kind == ToonKind.String && root.Text!.StartsWith('\uFEFF') ? Quoted(root.Text) : Primitive(root);
                Line(0).Append(text);
            }
            else if (root.Kind == ToonKind.Array)
            {
                Array(null, root, 0);
            }
            else if (KeyedFields(root) is { } keyed)
            {
                Keyed(null, root, keyed, 0, hyphen: false);
            }
            else
            {
                Fields(root.Properties, 0, 0);
            }
        }

        private StringBuilder Line(int depth)
        {
            if (_any)
            {
                _out.Append('\n');
            }

            _any = true;
            return _out.Append(' ', depth * _indent);
        }

        private StringBuilder Item(int depth) => Line(depth).Append("- ");

        private void Fields(IReadOnlyList<KeyValuePair<string, ToonNode>> properties, int from, int depth)
        {
            for (var i = from; i < properties.Count; i++)
            {
                Field1(properties[i].Key, properties[i].Value, depth);
            }
        }

        // §8: key: value, key: + nested fields, or the keyed tabular form (§9.5).
        private void Field1(string key, ToonNode value, int depth)
        {
            if (value.IsPrimitive)
            {
                Line(depth).Append(Key(key)).Append(": ").Append(Primitive(value));
            }
            else if (value.Kind == ToonKind.Array)
            {
                Array(key, value, depth);
            }
            else if (KeyedFields(value) is { } keyed)
            {
                Keyed(key, value, keyed, depth, hyphen: false);
            }
            else
            {
                Line(depth).Append(Key(key)).Append(':');
                Fields(value.Properties, 0, depth + 1);
            }
        }

        private void Array(string? key, ToonNode array, int depth)
        {
            var items = array.Items!;
            if (items.Count == 0)
            {
                Line(depth).Append(key is null ? "[]" : Key(key) + ": []");
            }
            else if (AllPrimitive(items))
            {
                Inline(Line(depth), key, items);
            }
            else if (items.TrueForAll(i => i.Kind == ToonKind.Array && AllPrimitive(i.Items!)))
            {
                Header(Line(depth), key, items.Count, null, keyed: false);
                foreach (var inner in items)
                {
                    Inline(Item(depth + 1), null, inner.Items!);
                }
            }
            else if (items.TrueForAll(i => i.Kind == ToonKind.Object) && TabularFields(items) is { } fields)
            {
                Header(Line(depth), key, items.Count, fields, keyed: false);
                Rows(items, fields, depth + 1);
            }
            else
            {
                Header(Line(depth), key, items.Count, null, keyed: false);
                foreach (var item in items)
                {
                    ListItem(item, depth + 1);
                }
            }
        }

        // §9.4 list items; tabular form is not available for arrays nested here.
        private void ListItem(ToonNode value, int depth)
        {
            if (value.IsPrimitive)
            {
                Item(depth).Append(Primitive(value));
            }
            else if (value.Kind == ToonKind.Array)
            {
                if (AllPrimitive(value.Items!))
                {
                    Inline(Item(depth), null, value.Items!);
                }
                else
                {
                    Header(Item(depth), null, value.Items!.Count, null, keyed: false);
                    foreach (var item in value.Items!)
                    {
                        ListItem(item, depth + 1);
                    }
                }
            }
            else
            {
                ObjectItem(value, depth);
            }
        }

        // §10: the first field rides on the hyphen line; the rest sit at depth + 1.
        private void ObjectItem(ToonNode obj, int depth)
        {
            var properties = obj.Properties;
            if (properties.Count == 0)
            {
                Line(depth).Append('-');
                return;
            }

            var (key, value) = (properties[0].Key, properties[0].Value);
            if (
                value.Kind == ToonKind.Array
                && value.Items!.Count > 0
                && value.Items.TrueForAll(i => i.Kind == ToonKind.Object)
                && TabularFields(value.Items) is { } fields
            )
            {
                Header(Item(depth), key, value.Items.Count, fields, keyed: false);
                Rows(value.Items, fields, depth + 2);
            }
            else if (value.Kind == ToonKind.Object && KeyedFields(value) is { } keyed)
            {
                Keyed(key, value, keyed, depth, hyphen: true);
            }
            else if (value.IsPrimitive)
            {
                Item(depth).Append(Key(key)).Append(": ").Append(Primitive(value));
            }
            else if (value.Kind == ToonKind.Array)
            {
                var items = value.Items!;
                if (items.Count == 0)
                {
                    Item(depth).Append(Key(key)).Append(": []");
                }
                else if (AllPrimitive(items))
                {
                    Inline(Item(depth).Append(Key(key)), null, items);
                }
                else
                {
                    Header(Item(depth).Append(Key(key)), null, items.Count, null, keyed: false);
                    foreach (var item in items)
                    {
                        ListItem(item, depth + 2);
                    }
                }
            }
            else
            {
                Item(depth).Append(Key(key)).Append(':');
                Fields(value.Properties, 0, depth + 2);
            }

            Fields(properties, 1, depth + 1);
        }

        private void Keyed(string? key, ToonNode obj, Field[] fields, int depth, bool hyphen)
        {
            var properties = obj.Properties;
            Header(hyphen ? Item(depth) : Line(depth), key, properties.Count, fields, keyed: true);
            var rowDepth = hyphen ? depth + 2 : depth + 1;
            var cells = new List<ToonNode>();
            foreach (var (entryKey, entry) in properties)
            {
                cells.Clear();
                Leaves(entry, fields, cells);
                Cells(Line(rowDepth).Append(Key(entryKey)).Append(": "), cells);
            }
        }

        private void Rows(List<ToonNode> rows, Field[] fields, int depth)
        {
            var cells = new List<ToonNode>();
            foreach (var row in rows)
            {
                cells.Clear();
                Leaves(row, fields, cells);
                Cells(Line(depth), cells);
            }
        }

        private static void Leaves(ToonNode row, Field[] fields, List<ToonNode> cells)
        {
            foreach (var field in fields)
            {
                var value = row.Get(field.Name)!;
                if (field.Children is { } children)
                {
                    Leaves(value, children, cells);
                }
                else
                {
                    cells.Add(value);
                }
            }
        }

        private void Cells(StringBuilder line, List<ToonNode> values)
        {
            for (var i = 0; i < values.Count; i++)
            {
                if (i > 0)
                {
                    line.Append(_delimiter);
                }

                line.Append(Primitive(values[i]));
            }
        }

        private void Inline(StringBuilder line, string? key, List<ToonNode> values)
        {
            Header(line, key, values.Count, null, keyed: false);
            if (values.Count > 0)
            {
                Cells(line.Append(' '), values);
            }
        }

        // §6: key[N<delim?>]{fields}: and the keyed key[N:<delim?>]{fields}:
        private void Header(StringBuilder line, string? key, int count, Field[]? fields, bool keyed)
        {
            if (key is not null)
            {
                line.Append(Key(key));
            }

            line.Append('[').Append(count);
            if (keyed)
            {
                line.Append(':');
            }

            if (_delimiter != ',')
            {
                line.Append(_delimiter);
            }

            line.Append(']');
            if (fields is not null)
            {
                FieldSegment(line, fields);
            }

            line.Append(':');
        }

        private void FieldSegment(StringBuilder line, Field[] fields)
        {
            line.Append('{');
            for (var i = 0; i < fields.Length; i++)
            {
                if (i > 0)
                {
                    line.Append(_delimiter);
                }

                line.Append(Key(fields[i].Name));
                if (fields[i].Children is { } children)
                {
                    FieldSegment(line, children);
                }
            }

            line.Append('}');
        }

        private string Primitive(ToonNode value) =>
            value.Kind switch
            {
                ToonKind.Null => "null",
                ToonKind.True => "true",
                ToonKind.False => "false",
                ToonKind.Number => value.Text!,
                _ => NeedsQuotes(value.Text!, _delimiter) ? Quoted(value.Text!) : value.Text!,
            };
    }

    private static bool AllPrimitive(List<ToonNode> items) => items.TrueForAll(i => i.IsPrimitive);

    // §9.3 tabular detection: every element a non-empty object with the same key set; each column all primitives
    // or all non-empty objects that are themselves tabular (a nested field group). Field order: the first element's.
    private static Field[]? TabularFields(List<ToonNode> rows)
    {
        if (rows.Count == 0)
        {
            return null;
        }

        var first = rows[0].Properties;
        if (first.Count == 0)
        {
            return null;
        }

        foreach (var row in rows)
        {
            if (row.Properties.Count != first.Count)
            {
                return null;
            }

            foreach (var (key, _) in first)
            {
                if (row.Get(key) is null)
                {
                    return null;
                }
            }
        }

        var fields = new Field[first.Count];
        var column = new List<ToonNode>(rows.Count);
        for (var f = 0; f < first.Count; f++)
        {
            var name = first[f].Key;
            column.Clear();
            foreach (var row in rows)
            {
                column.Add(row.Get(name)!);
            }

            if (AllPrimitive(column))
            {
                fields[f] = new Field(name, null);
            }
            else if (column.TrueForAll(v => v.IsNonEmptyObject) && TabularFields([.. column]) is { } children)
            {
                fields[f] = new Field(name, children);
            }
            else
            {
                return null;
            }
        }

        return fields;
    }

    // §9.5 keyed tabular detection: at least two entries, every value a non-empty object, columns as in §9.3.
    private static Field[]? KeyedFields(ToonNode obj)
    {
        var properties = obj.Properties;
        if (properties.Count < 2)
        {
            return null;
        }

        var values = new List<ToonNode>(properties.Count);
        foreach (var (_, value) in properties)
        {
            if (!value.IsNonEmptyObject)
            {
                return null;
            }

            values.Add(value);
        }

        return TabularFields(values);
    }

    // §7.3: ^[A-Za-z_][A-Za-z0-9_.]*$ stays bare, anything else is quoted.
    private static string Key(string key)
    {
        if (key.Length > 0 && (char.IsAsciiLetter(key[0]) || key[0] == '_'))
        {
            var bare = true;
            foreach (var c in key.AsSpan(1))
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.'))
                {
                    bare = false;
                    break;
                }
            }

            if (bare)
            {
                return key;
            }
        }

        return Quoted(key);
    }

    // §7.2 quoting rules for string values, with delimiter-aware quoting (§11.1).
    private static bool NeedsQuotes(string value, char delimiter)
    {
        if (value.Length == 0 || value[0] is ' ' or '\t' or '-' or '#' || value[^1] is ' ' or '\t')
        {
            return true;
        }

        if (value is "true" or "false" or "null" || IsNumericLike(value))
        {
            return true;
        }

        foreach (var c in value)
        {
            if (c < 0x20 || c is ':' or '"' or '\\' or '[' or ']' or '{' or '}' || c == delimiter)
            {
                return true;
            }
        }

        return false;
    }

    // /^[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i with ASCII digits.
    private static bool IsNumericLike(string s)
    {
        var i = 0;
        if (s[0] is '+' or '-')
        {
            i++;
        }

        if (!Digits(s, ref i))
        {
            return false;
        }

        if (i < s.Length && s[i] == '.')
        {
            i++;
            if (!Digits(s, ref i))
            {
                return false;
            }
        }

        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-')
            {
                i++;
            }

            if (!Digits(s, ref i))
            {
                return false;
            }
        }

        return i == s.Length;
    }

    private static bool Digits(string s, ref int i)
    {
        var start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        return i > start;
    }

    // §7.1: \\ \" \n \r \t, other C0 controls as lowercase \u00xx, everything else literal.
    private static string Quoted(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    sb.Append("\\\\");
                    break;
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\n':
                    sb.Append("\\n");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                case < ' ':
                    sb.Append("\\u00").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        return sb.Append('"').ToString();
    }
}
