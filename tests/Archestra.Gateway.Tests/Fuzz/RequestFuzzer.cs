using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Archestra.Gateway.Tests.Fuzz;

/// <summary>
/// Turns a valid JSON request into a hostile variant: structure-aware mutations while writing the document (a key
/// written twice, a key spelled with escapes, a value of the wrong type, a huge string, deep nesting, invalid UTF-8 or
/// a lone surrogate inside a string), then sometimes byte-level damage (truncation, a flipped byte, trailing garbage,
/// a BOM). Deterministic for a given <see cref="Random"/>, so a failure is reproduced from its seed.
/// </summary>
internal sealed class RequestFuzzer(Random random, int maxBody)
{
    /// <summary>How many mutations the last <see cref="Mutate"/> applied (0: the seed went out unchanged).</summary>
    public int Applied { get; private set; }

    public byte[] Mutate(string seed)
    {
        Applied = 0;
        var node = JsonNode.Parse(seed)!;
        var output = new MemoryStream();
        // Each node is mutated with probability ~1/rate, so a typical seed gets one to three mutations.
        var rate = random.Next(4, 16);
        Write(node, output, rate, 0);
        var bytes = output.ToArray();
        if (random.Next(6) == 0)
        {
            bytes = Damage(bytes);
        }

        return bytes;
    }

    private bool Roll(int rate) => random.Next(rate) == 0;

    private void Write(JsonNode? node, MemoryStream output, int rate, int depth)
    {
        if (depth > 0 && Roll(rate * 2))
        {
            Applied++;
            WriteHostileValue(output, rate);
            return;
        }

        switch (node)
        {
            case JsonObject obj:
                output.WriteByte((byte)'{');
                var first = true;
                foreach (var (name, value) in obj)
                {
                    Member(output, ref first, name, value, rate, depth);
                    if (Roll(rate))
                    {
                        // The same key again, with a different value: what a policy bypass looks like.
                        Applied++;
                        Member(output, ref first, random.Next(2) == 0 ? name : Escaped(name), Different(value), rate, depth);
                    }
                }

                output.WriteByte((byte)'}');
                break;
            case JsonArray array:
                output.WriteByte((byte)'[');
                for (var i = 0; i < array.Count; i++)
                {
                    if (i > 0)
                    {
                        output.WriteByte((byte)',');
                    }

                    Write(array[i], output, rate, depth + 1);
                }

                output.WriteByte((byte)']');
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String && Roll(rate * 2):
                Applied++;
                WriteBrokenString(output, value.GetValue<string>());
                break;
            default:
                output.Write(Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null"));
                break;
        }
    }

    private void Member(MemoryStream output, ref bool first, string name, JsonNode? value, int rate, int depth)
    {
        if (!first)
        {
            output.WriteByte((byte)',');
        }

        first = false;
        output.WriteByte((byte)'"');
        output.Write(Encoding.UTF8.GetBytes(name.StartsWith("\\u", StringComparison.Ordinal) ? name : JsonEncodedText.Encode(name).ToString()));
        output.Write("\":"u8);
        Write(value, output, rate, depth + 1);
    }

    /// <summary>The key with its first letter as a <c>\u</c> escape: the same key to every parser.</summary>
    private static string Escaped(string name) => name.Length == 0 ? name : $"\\u{(int)name[0]:x4}" + JsonEncodedText.Encode(name[1..]).ToString();

    private JsonNode? Different(JsonNode? value) =>
        random.Next(4) switch
        {
            0 => JsonValue.Create("rm -rf /"),
            1 => JsonValue.Create(random.Next()),
            2 => new JsonObject { ["cmd"] = "rm -rf /" },
            _ => value?.DeepClone(),
        };

    private void WriteHostileValue(MemoryStream output, int rate)
    {
        switch (random.Next(9))
        {
            case 0:
                output.Write("null"u8);
                break;
            case 1:
                output.Write(
                    Encoding.UTF8.GetBytes(
                        random.Next(3) switch
                        {
                            0 => "-1",
                            1 => "1e999",
                            _ => "12345678901234567890123456789",
                        }
                    )
                );
                break;
            case 2:
                output.Write("true"u8);
                break;
            case 3:
                output.Write("[]"u8);
                break;
            case 4:
                output.Write("{}"u8);
                break;
            case 5:
                // Deep nesting: sometimes within every limit (64), sometimes far beyond.
                var depth = random.Next(2) == 0 ? random.Next(10, 70) : random.Next(200, 20_000);
                var open = random.Next(2) == 0 ? (byte)'[' : (byte)'{';
                for (var i = 0; i < depth; i++)
                {
                    output.Write(open == (byte)'[' ? "["u8 : "{\"a\":"u8);
                }

                output.Write("1"u8);
                for (var i = 0; i < depth; i++)
                {
                    output.WriteByte(open == (byte)'[' ? (byte)']' : (byte)'}');
                }

                break;
            case 6:
                // A huge string: below and above the body limit.
                var length = random.Next(2) == 0 ? random.Next(1_000, 200_000) : random.Next(maxBody / 2, maxBody + maxBody / 4);
                output.WriteByte((byte)'"');
                output.Write(Encoding.ASCII.GetBytes(new string('x', length)));
                output.WriteByte((byte)'"');
                break;
            case 7:
                WriteBrokenString(output, "value");
                break;
            default:
                output.Write("\"a string where something else belongs\""u8);
                break;
        }
    }

    private void WriteBrokenString(MemoryStream output, string text)
    {
        output.WriteByte((byte)'"');
        output.Write(Encoding.UTF8.GetBytes(JsonEncodedText.Encode(text).ToString()));
        switch (random.Next(5))
        {
            case 0:
                output.WriteByte(0xFF);
                break;
            case 1:
                output.Write([0xC0, 0xAF]);
                break;
            case 2:
                output.Write([0xED, 0xA0, 0x80]);
                break;
            case 3:
                output.Write("\\ud800"u8);
                break;
            default:
                output.Write([0xE2, 0x82]);
                break;
        }

        output.WriteByte((byte)'"');
    }

    private byte[] Damage(byte[] bytes)
    {
        Applied++;
        switch (random.Next(5))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)];
            case 1:
                var copy = (byte[])bytes.Clone();
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
                return copy;
            case 2:
                return [.. bytes, .. "}{\"x\":1"u8];
            case 3:
                return [0xEF, 0xBB, 0xBF, .. bytes];
            default:
                return [.. bytes, .. "\n"u8, .. bytes];
        }
    }
}
