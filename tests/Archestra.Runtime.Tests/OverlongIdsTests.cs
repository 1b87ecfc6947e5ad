using System.Text;
using Archestra.Runtime.Stdio;

namespace Archestra.Runtime.Tests;

public class OverlongIdsTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"yyyy""", 42)]
    [InlineData("""{"jsonrpc":"2.0","meta":{"id":7},"id":43,"result":{"te""", 43)]
    [InlineData("""{ "id" : 44 , "result": [1,2,""", 44)]
    public void The_id_before_the_cut_is_read_from_the_head(string head, long expected)
    {
        Assert.True(OverlongIds.TryReadFromHead(Encoding.UTF8.GetBytes(head), out var id));
        Assert.Equal(expected, id);
    }

    [Theory]
    [InlineData("""{"result":{"content":[{"type":"text","text":"yyyy""")]
    [InlineData("""{"jsonrpc":"2.0","id":"a-string","result":{""")]
    [InlineData("""not json at all""")]
    [InlineData("""{"jsonrpc":"2.0","id":12""")]
    public void A_head_without_a_whole_integer_id_gives_none(string head)
    {
        Assert.False(OverlongIds.TryReadFromHead(Encoding.UTF8.GetBytes(head), out _));
    }

    [Theory]
    [InlineData("""yyyy"}]},"jsonrpc":"2.0","id":42}""", 42)]
    [InlineData("yyyy\"}]}, \"id\" : 43 }\r\n", 43)]
    public void The_id_closing_the_message_is_read_from_the_tail(string tail, long expected)
    {
        Assert.True(OverlongIds.TryReadFromTail(Encoding.UTF8.GetBytes(tail), out var id));
        Assert.Equal(expected, id);
    }

    [Theory]
    [InlineData("""yyyy","id":42}}""")]
    [InlineData("""yyyy \"id\":42}""")]
    [InlineData("""yyyy","id":"42"}""")]
    [InlineData("""yyyyyyyyyyyyyy""")]
    public void An_id_nested_in_the_result_or_inside_a_string_is_not_taken_from_the_tail(string tail)
    {
        Assert.False(OverlongIds.TryReadFromTail(Encoding.UTF8.GetBytes(tail), out _));
    }
}
