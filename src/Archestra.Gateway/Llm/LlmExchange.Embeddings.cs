using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Llm;

/// <summary>
/// <c>POST /v1/openai/{profile}/embeddings</c>: the body goes to an OpenAI-kind provider byte for byte and the answer
/// comes back as it was sent, while the scanner reads its <c>usage.prompt_tokens</c> and <c>model</c> on the way. It is
/// checked against the profile's budgets and recorded like a generation; optimization rules are not applied (their
/// targets are chat models), and there is no history or tool call to guard.
/// </summary>
internal sealed partial class LlmExchange
{
    /// <summary>Stage 2 of an embeddings request: the budgets, then <c>provider/model</c>. False when the request ended here.</summary>
    private async Task<bool> DecideEmbeddingsAsync()
    {
        if (!await WithinBudgetAsync().ConfigureAwait(false))
        {
            return false;
        }

        // As on chat completions: a prefix naming one of the profile's providers picks it; any other slash is the model's own.
        var model = Body.Model;
        var slash = model?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0 || Profile.Provider(model.AsSpan(0, slash)) is not { } target)
        {
            return true;
        }

        if (target.Kind != LlmProviderKind.OpenAi)
        {
            await FailAsync(
                    LlmError.BadRequest,
                    $"Invalid request: model '{model}' names the provider '{target.Name}' (kind {target.Kind.ToString().ToLowerInvariant()}); "
                        + "embeddings are passed through to OpenAI-compatible providers only."
                )
                .ConfigureAwait(false);
            return false;
        }

        var targetModel = model![(slash + 1)..];
        if (targetModel.Length == 0)
        {
            await FailAsync(LlmError.BadRequest, $"Invalid request: model '{model}' names the provider '{target.Name}' but no model.").ConfigureAwait(false);
            return false;
        }

        Upstream = target;
        RoutedModel = targetModel;
        Body = Body.WithModel(targetModel);
        return true;
    }
}
