//! Loading posts: the first stage of the pipeline.
//!
//! Walks the posts folder, reads each `.md`/`.mdx` file, splits its front
//! matter, and turns it into a [`Post`] with a real date, a permalink,
//! resolved authors and slugged tags. Problems become [`Diagnostic`]s with
//! the file, line and column; a post with an error is left out and named, the
//! others go on.
//!
//! One job a file:
//!
//! | file | job |
//! | --- | --- |
//! | `post.rs` | the model: [`Post`], [`Body`], [`PostTag`], [`Scheduled`] |
//! | `load.rs` | loading a site's posts, on all cores: [`load`] |
//! | `walk.rs` | finding the post files in the posts folder |
//! | `text.rs` | reading a file as text: [`read_text`], [`decode_text`] |
//! | `front_matter.rs` | splitting the front matter off, parsing its YAML |
//! | `parse.rs` | interpreting the front matter into a [`Post`]: [`parse_post`] |
//! | `dates.rs`, `authors.rs` | dates of names and fields; authors and `authors.yml` |
//! | `permalink.rs` | where a post is published, and one post a permalink |
//! | `bodies.rs` | bodies between loading and rendering, within a memory budget: [`BodyCache`] |
//!
//! The input limits ([`crate::limits`]) are the crate's, not this stage's.
//!
//! [`Diagnostic`]: crate::diagnostics::Diagnostic

pub mod authors;
mod bodies;
pub mod dates;
pub mod front_matter;
mod load;
mod parse;
mod permalink;
mod post;
mod text;
mod walk;

pub use authors::{Author, AuthorMap};
pub use bodies::{BODY_MEMORY_BUDGET, BodyCache, MemorySize};
pub use load::{LoadedPosts, load, load_posts, load_posts_keeping};
pub use parse::parse_post;
pub use permalink::folder_url;
pub use post::{Body, Post, PostTag, Scheduled, ScheduledPost, slug, tag_slug};
pub use text::{decode_text, read_text};
