using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Policy.Llm;

namespace Archestra.Policy.Tests.Llm;

/// <summary>
/// toon-cases.json holds JSON inputs with the TOON the reference encoder (npm @toon-format/toon, version in the
/// file) wrote for them: handwritten cases plus every encode fixture of the TOON spec repository. Regenerate with
/// toon-cases.mjs (it needs the npm package and the spec's tests/fixtures/encode next to it).
/// </summary>
public class ToonTests
{
    private static readonly Lazy<JsonDocument> Cases = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Llm", "toon-cases.json")))
    );

    public static TheoryData<string> CaseNames
    {
        get
        {
            var names = new TheoryData<string>();
            foreach (var c in Cases.Value.RootElement.GetProperty("cases").EnumerateArray())
            {
                names.Add(c.GetProperty("name").GetString()!);
            }

            return names;
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Encoding_matches_the_reference_encoder_byte_for_byte(string name)
    {
        var c = Cases.Value.RootElement.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("name").GetString() == name);
        var options = ToonOptions.Default;
        if (c.TryGetProperty("options", out var o))
        {
            if (o.TryGetProperty("delimiter", out var d))
            {
                options = options with { Delimiter = d.GetString()![0] };
            }

            if (o.TryGetProperty("indentSize", out var i))
            {
                options = options with { Indent = i.GetInt32() };
            }
        }

        var json = Encoding.UTF8.GetBytes(c.GetProperty("json").GetString()!);
        Assert.Equal(c.GetProperty("toon").GetString(), Toon.Encode(json, options));
    }

    [Fact]
    public void The_case_file_names_its_reference_and_has_enough_cases()
    {
        Assert.StartsWith("@toon-format/toon ", Cases.Value.RootElement.GetProperty("reference").GetString(), StringComparison.Ordinal);
        Assert.True(Cases.Value.RootElement.GetProperty("cases").GetArrayLength() >= 40);
    }

    public static TheoryData<string, string> LosslessNumbers =>
        new()
        {
            // The reference goes through a double here; the spec allows (§2) and we choose the lossless form.
            { "12345678901234567890", "12345678901234567890" },
            { "-0.12345678901234567890123", "-0.12345678901234567890123" },
            { "1e400", "1e+400" },
            { "1.000e-400", "1e-400" },
            { "0e-5", "0" },
            { "123456789012345678901234", "1.23456789012345678901234e+23" },
        };

    [Theory]
    [MemberData(nameof(LosslessNumbers))]
    public void Numbers_keep_every_digit_of_the_json_literal(string json, string toon) => Assert.Equal(toon, Toon.Encode(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Index_like_keys_keep_their_encounter_order() => Assert.Equal("b: 1\n\"2\": 2\n\"1\": 3", Toon.Encode("""{"b":1,"2":2,"1":3}"""u8));

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"a\":1,}")]
    [InlineData("[1] [2]")]
    [InlineData("\"\\ud800\"")]
    [InlineData("// c\n1")]
    public void Invalid_json_is_refused_as_a_value(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        Assert.Null(Toon.TryEncode(bytes));
        var buffer = new ArrayBufferWriter<byte>();
        Assert.False(Toon.TryEncode(bytes, buffer));
        Assert.Equal(0, buffer.WrittenCount);
        Assert.Throws<FormatException>(() => Toon.Encode(bytes));
    }

    [Fact]
    public void The_buffer_writer_form_writes_utf8()
    {
        var buffer = new ArrayBufferWriter<byte>();
        Assert.True(Toon.TryEncode("""{"k":"é"}"""u8, buffer));
        Assert.Equal("k: é", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_refused()
    {
        var deep = new string('[', 300) + new string(']', 300);
        Assert.Null(Toon.TryEncode(Encoding.UTF8.GetBytes(deep)));
        Assert.NotNull(Toon.TryEncode(Encoding.UTF8.GetBytes(deep), ToonOptions.Default with { MaxDepth = 400 }));
    }
}
