/**
 * The API token test hubs start with (settings api.token / SANNUO_API_TOKEN, role supervisor),
 * so fixtures, the simulator and the CLI authenticate like a hall's automation does.
 */
export const TEST_API_TOKEN = 'sannuo_test-automation-token-0123456789';

export function bearer(token: string = TEST_API_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
