using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>The profile's tool selection on the LLM path: a call of a tool the profile does not expose is refused by the guard.</summary>
public sealed class ToolSelectionGuardTests(ToolGuardFixture fixture) : IClassFixture<ToolGuardFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ChatCompletion> CompleteAsync(string tool, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        var chat = new ChatClient(
            $"call:{tool}#{test.GetHashCode(StringComparison.Ordinal):x8}",
            new ApiKeyCredential(ToolGuardFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase("picked"), RetryPolicy = new ClientRetryPolicy(0) }
        );
        var options = new ChatCompletionOptions();
        options.Tools.Add(ChatTool.CreateFunctionTool(tool, tool, BinaryData.FromString("""{"type":"object","properties":{}}""")));
        return (await chat.CompleteChatAsync([new UserChatMessage("""{"to":"boss@example.com"}""")], options, Ct)).Value;
    }

    [Theory]
    [InlineData("mail__pay", "toolSelection.mail.allow: no pattern matches")]
    [InlineData("mail__read_secret_key", "toolSelection.mail.deny: read_secret*")]
    public async Task A_call_of_a_tool_the_profile_does_not_expose_is_replaced_by_an_explanation(string tool, string rule)
    {
        var completion = await CompleteAsync(tool);
        Assert.Empty(completion.ToolCalls);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.EndsWith(
            $"[Archestra] The call to the tool {tool} was not made: profile 'picked' does not expose it ({rule}).",
            completion.Content[0].Text,
            StringComparison.Ordinal
        );
    }

    [Theory]
    [InlineData("mail__send")]
    [InlineData("mail__read_inbox")]
    [InlineData("web__search")]
    public async Task A_call_of_an_exposed_tool_or_of_a_server_without_selection_goes_through(string tool)
    {
        var completion = await CompleteAsync(tool);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal(tool, call.FunctionName);
    }
}
