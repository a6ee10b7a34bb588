// A blog schema whose resolvers load through per-request loaders. `db` stands for a backend with
// batch endpoints; it records each call so the example can show the batching.
import { GraphQLInt, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import DataLoader from "hyperbatch/dataloader";

const USERS = new Map([
  [1, { id: 1, name: "Ada", friendIds: [2, 3] }],
  [2, { id: 2, name: "Brian", friendIds: [1] }],
  [3, { id: 3, name: "Grace", friendIds: [1, 2] }],
]);
const POSTS = [
  { id: 10, authorId: 1, title: "Notes on the Analytical Engine" },
  { id: 11, authorId: 3, title: "Compilers for everyone" },
  { id: 12, authorId: 1, title: "Bernoulli numbers" },
];

export function makeDb() {
  const calls = [];
  return {
    calls,
    async usersByIds(ids) {
      calls.push(["usersByIds", [...ids]]);
      return ids.map((id) => USERS.get(id) ?? new Error(`no user ${id}`));
    },
    async postsByAuthorIds(ids) {
      calls.push(["postsByAuthorIds", [...ids]]);
      return ids.map((id) => POSTS.filter((p) => p.authorId === id));
    },
  };
}

/** One set of loaders per request: its cache lives as long as the request. */
export function makeContext(db) {
  return {
    users: new DataLoader((ids) => db.usersByIds(ids), { name: "users" }),
    postsByAuthor: new DataLoader((ids) => db.postsByAuthorIds(ids), { name: "postsByAuthor" }),
  };
}

const Post = new GraphQLObjectType({
  name: "Post",
  fields: () => ({
    id: { type: new GraphQLNonNull(GraphQLInt) },
    title: { type: GraphQLString },
    author: { type: User, resolve: (post, _args, ctx) => ctx.users.load(post.authorId) },
  }),
});

const User = new GraphQLObjectType({
  name: "User",
  fields: () => ({
    id: { type: new GraphQLNonNull(GraphQLInt) },
    name: { type: GraphQLString },
    friends: { type: new GraphQLList(User), resolve: (user, _args, ctx) => ctx.users.loadMany(user.friendIds) },
    posts: { type: new GraphQLList(Post), resolve: (user, _args, ctx) => ctx.postsByAuthor.load(user.id) },
  }),
});

export const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: {
      user: {
        type: User,
        args: { id: { type: new GraphQLNonNull(GraphQLInt) } },
        resolve: (_root, { id }, ctx) => ctx.users.load(id),
      },
      users: {
        type: new GraphQLList(User),
        args: { ids: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(GraphQLInt))) } },
        resolve: (_root, { ids }, ctx) => ctx.users.loadMany(ids),
      },
    },
  }),
});

export const EXAMPLE_QUERY = `{
  users(ids: [1, 3]) {
    name
    friends { name posts { title author { name } } }
  }
}`;
