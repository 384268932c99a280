// The numbers client.js and the wasm core say to each other (`mod kind` and `mod order` in
// client-sdk/src/js.rs), and the close codes the driver uses. A module of its own, with no import
// or export "from": esbuild inlines such a module's constants into the bundle (a file that imports
// keeps its own as variables).

// What the core tells `act(kind, topic, a, b, c)`: what the app hears (NAMED: an event), then what
// the driver does. Handlers have the kinds of what they hear (an event's are NAMED, or UNKNOWN; a
// refusal's, ERROR).
export const NAMED = 0, STATE = 1, ERROR = 2, RESYNC = 3, UNSUBSCRIBED = 4, OCCUPANCY = 5, PRESENCE = 6;
export const FETCH_TOKEN = 7, CONNECT = 8, SEND = 9, CLOSE_SOCKET = 10, SET_TIMER = 11, CLEAR_TIMER = 12;
export const OPEN_TOPIC_SOCKET = 13, CLOSE_TOPIC_SOCKET = 14, UNKNOWN = 15, STOP_CLIENT = 16;
// What the driver asks of the core: `core.ask(order, a, b, c, act)`.
export const START = 0, CLOSE = 1, SUBSCRIBE = 2, UNSUBSCRIBE = 3, TOKEN = 4, FRAME = 5, SOCKET_CLOSED = 6;
export const TIMER = 7, NETWORK = 8, TOPIC_ENDED = 9, POSITION = 10, TOPIC_SOCKET = 11, TOPIC_SOCKET_STOPPED = 12;
// The close codes (protocol/codes.json): of the sockets the client closes itself
// (CLIENT_CLOSE_CODE in client-sdk/src/connection.rs), and of one that could not be opened (as the
// browser reports a socket that failed).
export const NORMAL = 1000, ABNORMAL = 1006;
