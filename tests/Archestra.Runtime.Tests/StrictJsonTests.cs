using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Runtime.Tests;

public class StrictJsonTests
{
    private static StrictJsonResult Check(string json, int maxDepth = StrictJson.MessageMaxDepth) => StrictJson.Check(Encoding.UTF8.GetBytes(json), maxDepth);

    private static string Describe(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        return StrictJson.Describe(bytes, StrictJson.Check(bytes));
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"cmd":"ls"}}}""")]
    [InlineData("""{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}""")]
    [InlineData("""{"x":{"x":{"x":{}}}}""")]
    [InlineData("""{"emoji":"\ud83d\ude00","text":"caf\u00e9 ☕"}""")]
    [InlineData("""[1,"two",null,true,{"k":[]}]""")]
    [InlineData("\"just a string\"")]
    public void Json_without_repeats_passes(string json) => Assert.Equal(default, Check(json));

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"danger","name":"safe"}}""", "$.params", "\"name\"")]
    [InlineData("""{"params":{"arguments":{"cmd":"rm -rf /"},"arguments":{"cmd":"ls"}}}""", "$.params", "\"arguments\"")]
    [InlineData("""{"a":1,"a":2}""", "$", "\"a\"")]
    [InlineData("""{"list":[{"ok":1},{"k":1,"k":1}]}""", "$.list[1]", "\"k\"")]
    [InlineData("""{"name":"x","na\u006de":"y"}""", "$", "\"name\"")]
    [InlineData("""{"m":{"\u0061":1,"a":2}}""", "$.m", "\"a\"")]
    [InlineData("""{"a b":{"c":0,"c":1}}""", "$[\"a b\"]", "\"c\"")]
    public void A_repeated_key_is_refused_and_described_with_its_object_path(string json, string path, string key)
    {
        var result = Check(json);
        Assert.Equal(StrictJsonError.DuplicateKey, result.Error);
        var text = Describe(json);
        Assert.Contains($"the key {key} appears twice in the object at {path};", text);
    }

    [Fact]
    public void A_repeat_among_thousands_of_keys_is_found_and_distinct_keys_pass()
    {
        var distinct = new StringBuilder("{");
        for (var i = 0; i < 20_000; i++)
        {
            distinct.Append(i == 0 ? "" : ",").Append("\"key").Append(i).Append("\":").Append(i);
        }

        Assert.Equal(default, Check(distinct + "}"));
        Assert.Equal(StrictJsonError.DuplicateKey, Check(distinct + ",\"key12345\":0}").Error);
        Assert.Equal(StrictJsonError.DuplicateKey, Check(distinct + ",\"key\\u00312345\":0}").Error);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'"', 0xC3, (byte)'"' })] // truncated two-byte sequence
    [InlineData(new byte[] { (byte)'"', 0x80, (byte)'"' })] // lone continuation byte
    [InlineData(new byte[] { (byte)'"', 0xC0, 0xAF, (byte)'"' })] // overlong '/'
    [InlineData(new byte[] { (byte)'"', 0xED, 0xA0, 0x80, (byte)'"' })] // UTF-8 encoded surrogate
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}' })]
    public void Invalid_utf8_is_refused_with_the_offset_of_the_first_bad_byte(byte[] json)
    {
        var result = StrictJson.Check(json);
        Assert.Equal(StrictJsonError.InvalidUnicode, result.Error);
        Assert.Equal(Array.FindIndex(json, b => b >= 0x80), result.Offset);
    }

    [Theory]
    [InlineData("""{"k":"\ud800"}""")]
    [InlineData("""{"k":"\udc00x"}""")]
    [InlineData("""{"\ud800":1}""")]
    [InlineData("""["ok","\ud83dx"]""")]
    public void An_escape_that_decodes_to_a_lone_surrogate_is_refused(string json) => Assert.Equal(StrictJsonError.InvalidUnicode, Check(json).Error);

    [Fact]
    public void The_surrogate_pairing_scan_agrees_with_the_readers_unescaping_on_random_strings()
    {
        string[] pieces = ["a", "\\n", "\\\\", "\\\\u", "\\ud83d", "\\ude00", "\\u0041", "\\uDBFF", "\\uDFFF", "\\u00e9", "é", "\\/"];
        var random = new Random(7);
        var lone = 0;
        for (var i = 0; i < 5_000; i++)
        {
            var text = new StringBuilder("\"");
            for (var n = random.Next(1, 8); n > 0; n--)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            var json = Encoding.UTF8.GetBytes(text.Append('"').ToString());
            var reader = new Utf8JsonReader(json);
            reader.Read();
            bool expected;
            try
            {
                reader.GetString();
                expected = true;
            }
            catch (InvalidOperationException)
            {
                expected = false;
            }

            lone += expected ? 0 : 1;
            Assert.True(expected == StrictJson.Check(json).IsValid, Encoding.UTF8.GetString(json));
        }

        Assert.InRange(lone, 500, 4_500);
    }

    [Fact]
    public void Nesting_is_bounded_by_the_callers_limit()
    {
        Assert.Equal(default, Check(new string('[', 64) + new string(']', 64), maxDepth: 64));
        Assert.Equal(StrictJsonError.TooDeep, Check(new string('[', 65) + new string(']', 65), maxDepth: 64).Error);
        var deep = new string('[', 100_000);
        Assert.Equal(StrictJsonError.TooDeep, Check(deep).Error);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("""{"a":1,}""")]
    [InlineData("""{"a":1} {"b":2}""")]
    [InlineData("""{"a":/*c*/1}""")]
    [InlineData("")]
    public void Malformed_json_is_refused(string json) => Assert.Equal(StrictJsonError.Malformed, Check(json).Error);

    [Theory]
    [InlineData("""{"jsonrpc":"2.0\ud800","method":"ping","id":1}""")]
    [InlineData("""{"jsonrpc":"2.0","method":"tools/call\udc00","id":1}""")]
    [InlineData("""{"jsonrpc":"2.0","method":"tools/call","id":1,"params":{"name":"x","_meta":{"progressToken":"\ud800"}}}""")]
    [InlineData("""{"j\ud800sonrpc":"2.0","method":"ping","id":1}""")]
    public void A_lone_surrogate_in_a_member_the_envelope_compares_is_ambiguous_not_an_exception(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        Assert.Equal(JsonRpcParseError.Ambiguous, JsonRpcEnvelope.TryParse(bytes, out _));
        Assert.Equal(StrictJsonError.InvalidUnicode, StrictJson.Check(bytes).Error);
    }

    [Fact]
    public void The_envelope_refuses_what_the_strict_check_refuses()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"danger","name":"safe","arguments":{}}}""");
        Assert.Equal(JsonRpcParseError.Ambiguous, JsonRpcEnvelope.TryParse(bytes, out _));
        Assert.Equal(JsonRpcParseError.None, JsonRpcEnvelope.TryParseLenient(bytes, out var lenient));
        Assert.Equal(JsonRpcKind.Request, lenient.Kind);
    }

    /// <summary>
    /// Random documents over a four-key alphabet (so repeats are common), keys sometimes written with escapes,
    /// checked against a reference that builds each object's key set with JsonDocument.
    /// </summary>
    [Fact]
    public void Random_documents_agree_with_a_reference_that_uses_JsonDocument()
    {
        var random = new Random(20261206);
        var repeats = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var text = new StringBuilder();
            Value(random, text, 0);
            var json = text.ToString();
            var expected = HasRepeat(json);
            repeats += expected ? 1 : 0;
            var actual = Check(json);
            Assert.True(expected == (actual.Error == StrictJsonError.DuplicateKey), $"reference says repeat={expected}, check says {actual.Error}: {json}");
            Assert.True(expected || actual.IsValid, json);
        }

        // Both outcomes occur often enough for the comparison to mean something.
        Assert.InRange(repeats, 300, 2_700);
    }

    [Fact]
    public void The_envelope_checks_in_its_own_pass_exactly_what_the_standalone_check_refuses()
    {
        var random = new Random(42);
        var ambiguous = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var arguments = new StringBuilder();
            Value(random, arguments, 1);
            var message = Encoding.UTF8.GetBytes(
                "{\"jsonrpc\":\"2.0\",\"id\":"
                    + i
                    + ",\"method\":\"tools/call\",\"params\":{\"name\":\"t\",\"arguments\":{\"v\":"
                    + arguments
                    + "},\"_meta\":{\"progressToken\":"
                    + i
                    + "}}}"
            );
            var expected = StrictJson.Check(message).IsValid ? JsonRpcParseError.None : JsonRpcParseError.Ambiguous;
            ambiguous += expected == JsonRpcParseError.Ambiguous ? 1 : 0;
            Assert.True(expected == JsonRpcEnvelope.TryParse(message, out var envelope), Encoding.UTF8.GetString(message));
            if (expected == JsonRpcParseError.None)
            {
                Assert.Equal(JsonRpcParseError.None, JsonRpcEnvelope.TryParseLenient(message, out var lenient));
                Assert.Equal(lenient.Arguments, envelope.Arguments);
                Assert.Equal(lenient.ProgressToken, envelope.ProgressToken);
            }
        }

        Assert.InRange(ambiguous, 300, 2_700);
    }

    private static readonly string[] s_keys = ["a", "b", "\\u0061", "ab", "a\\u0062", "c"];

    private static void Value(Random random, StringBuilder text, int depth)
    {
        switch (depth > 4 ? 3 : random.Next(4))
        {
            case 0:
                text.Append('{');
                var members = random.Next(0, depth == 0 ? 25 : 5);
                for (var m = 0; m < members; m++)
                {
                    text.Append(m == 0 ? "" : ",")
                        .Append('"')
                        .Append(s_keys[random.Next(s_keys.Length)])
                        .Append(random.Next(8) == 0 ? random.Next(40).ToString() : "")
                        .Append("\":");
                    Value(random, text, depth + 1);
                }

                text.Append('}');
                break;
            case 1:
                text.Append('[');
                var items = random.Next(0, 4);
                for (var m = 0; m < items; m++)
                {
                    text.Append(m == 0 ? "" : ",");
                    Value(random, text, depth + 1);
                }

                text.Append(']');
                break;
            case 2:
                text.Append("\"s\\n").Append(random.Next(100)).Append('"');
                break;
            default:
                text.Append(random.Next(1000));
                break;
        }
    }

    private static bool HasRepeat(string json)
    {
        using var document = JsonDocument.Parse(json);
        return Walk(document.RootElement);

        static bool Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    var repeat = false;
                    foreach (var property in element.EnumerateObject())
                    {
                        repeat |= !seen.Add(property.Name);
                        repeat |= Walk(property.Value);
                    }

                    return repeat;
                case JsonValueKind.Array:
                    var any = false;
                    foreach (var item in element.EnumerateArray())
                    {
                        any |= Walk(item);
                    }

                    return any;
                default:
                    return false;
            }
        }
    }
}
