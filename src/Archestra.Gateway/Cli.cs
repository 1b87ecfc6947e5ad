// TEMPORARY stub until the CLI work is merged.
namespace Archestra.Gateway;
internal static class Cli
{
    public static Task<int> RunAsync(string[] args) => Task.FromResult(args.Length);
}
