using Archestra.Runtime.Diagnostics;

namespace Archestra.Runtime.Tests;

public class LogTextTests
{
    [Theory]
    [InlineData("plain text, unchanged", "plain text, unchanged")]
    [InlineData("a\r\nforged line", @"a\r\nforged line")]
    [InlineData("\u001b[31mred\u0007\u0000", @"\x1B[31mred\x07\x00")]
    [InlineData("next\u0085line\u2028sep", @"next\x85line\u2028sep")]
    [InlineData("abc\u202Edcb", @"abc\u202Edcb")]
    public void Control_characters_line_separators_and_bidi_overrides_are_escaped(string text, string expected)
    {
        Assert.Equal(expected, LogText.Escape(text));
        Assert.Equal(expected, new LogText(text).ToString());
        Assert.Equal(expected, $"{(LogText)text}");
    }

    [Fact]
    public void A_lone_surrogate_is_escaped_and_a_pair_is_kept()
    {
        // Not theory data: xunit passes that through UTF-8, which replaces a lone surrogate before the test sees it.
        Assert.Equal("lone \\uD800 and \\uDC00, pair \ud83d\ude00 kept", LogText.Escape("lone \ud800 and \udc00, pair \ud83d\ude00 kept"));
    }

    [Fact]
    public void Plain_text_is_returned_as_the_same_instance()
    {
        var text = "nothing to escape here";
        Assert.Same(text, LogText.Escape(text));
    }

    [Fact]
    public void Invalid_UTF8_bytes_are_shown_as_hex_and_a_character_split_by_the_limit_is_dropped()
    {
        Assert.Equal(@"ok \xFF\xC3( é \x1B", LogText.Utf8("ok "u8.ToArray().Concat(new byte[] { 0xFF, 0xC3, 0x28 }).Concat(" é \u001b"u8.ToArray()).ToArray()));
        Assert.Equal(@"ab \xE2\x82", LogText.Utf8(new byte[] { 0x61, 0x62, 0x20, 0xE2, 0x82 }));
        Assert.Equal("ab …", LogText.Utf8(new byte[] { 0x61, 0x62, 0x20, 0xE2, 0x82, 0xAC, 0x21 }, 5));
        Assert.Equal("ab €…", LogText.Utf8(new byte[] { 0x61, 0x62, 0x20, 0xE2, 0x82, 0xAC, 0x21 }, 6));
    }
}
