#include "common/media/field_filter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

#ifdef ANIFARM_HAVE_AVFILTER
extern "C" {
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}
#endif

namespace anifarm {

std::string FieldFilterGraph(const FieldFilterConfig& config) {
  const std::string parity = config.top_field_first ? "tff" : "bff";
  switch (config.mode) {
    case FieldFilterMode::kInverseTelecine:
      // bwdif=deint=interlaced touches only the frames fieldmatch flags as
      // still combed (no clean match: an edit inside the cadence).
      return absl::StrCat("fieldmatch=order=", parity, ",bwdif=mode=send_frame:parity=", parity,
                          ":deint=interlaced,decimate=cycle=5");
    case FieldFilterMode::kDeinterlaceFields:
      return absl::StrCat("bwdif=mode=send_field:parity=", parity, ":deint=all");
  }
  return "";
}

#ifdef ANIFARM_HAVE_AVFILTER

namespace {
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphDeleter>;
struct FilterInOutDeleter {
  void operator()(AVFilterInOut* io) const { avfilter_inout_free(&io); }
};
using FilterInOutPtr = std::unique_ptr<AVFilterInOut, FilterInOutDeleter>;
}  // namespace

// The graph owns its filter contexts; source and sink point into it.
struct FieldFilter::Graph {
  FilterGraphPtr graph;
  AVFilterContext* source = nullptr;
  AVFilterContext* sink = nullptr;
};

bool FieldFiltersAvailable() { return true; }

absl::StatusOr<std::unique_ptr<FieldFilter>> FieldFilter::Create(const FieldFilterConfig& config) {
  auto graph = std::make_unique<Graph>();
  graph->graph.reset(avfilter_graph_alloc());
  if (!graph->graph) return absl::ResourceExhaustedError("cannot allocate a filter graph");
  const AVRational sar = config.sample_aspect_ratio.num > 0 ? config.sample_aspect_ratio
                                                            : AVRational{1, 1};
  std::string args = absl::StrCat("video_size=", config.width, "x", config.height,
                                   ":pix_fmt=", config.pixel_format, ":time_base=",
                                   config.time_base.num, "/", config.time_base.den,
                                   ":pixel_aspect=", sar.num, "/", sar.den);
  if (config.frame_rate.num > 0 && config.frame_rate.den > 0) {
    absl::StrAppend(&args, ":frame_rate=", config.frame_rate.num, "/", config.frame_rate.den);
  }
  int err = avfilter_graph_create_filter(&graph->source, avfilter_get_by_name("buffer"), "in",
                                         args.c_str(), nullptr, graph->graph.get());
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create the filter source (", args, "): ", AvErrorString(err)));
  }
  err = avfilter_graph_create_filter(&graph->sink, avfilter_get_by_name("buffersink"), "out",
                                     nullptr, nullptr, graph->graph.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot create the filter sink: ", AvErrorString(err)));
  }
  // avfilter_graph_parse_ptr takes the in/out lists over: it frees what it
  // consumes and leaves the rest, which the owners then free.
  FilterInOutPtr outputs(avfilter_inout_alloc());
  FilterInOutPtr inputs(avfilter_inout_alloc());
  if (!outputs || !inputs) return absl::ResourceExhaustedError("cannot allocate filter links");
  outputs->name = av_strdup("in");
  outputs->filter_ctx = graph->source;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = graph->sink;
  const std::string description = FieldFilterGraph(config);
  AVFilterInOut* in_raw = inputs.release();
  AVFilterInOut* out_raw = outputs.release();
  err = avfilter_graph_parse_ptr(graph->graph.get(), description.c_str(), &in_raw, &out_raw,
                                 nullptr);
  inputs.reset(in_raw);
  outputs.reset(out_raw);
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot build the filter graph '", description, "': ", AvErrorString(err)));
  }
  err = avfilter_graph_config(graph->graph.get(), nullptr);
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot configure the filter graph '", description, "': ",
                     AvErrorString(err)));
  }
  return std::unique_ptr<FieldFilter>(new FieldFilter(std::move(graph)));
}

absl::Status FieldFilter::Push(const AVFrame& frame, std::vector<FramePtr>* out) {
  // KEEP_REF: the graph takes its own reference; the caller keeps the frame.
  const int err = av_buffersrc_add_frame_flags(graph_->source, const_cast<AVFrame*>(&frame),
                                               AV_BUFFERSRC_FLAG_KEEP_REF);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot filter a frame: ", AvErrorString(err)));
  }
  return Drain(out);
}

absl::Status FieldFilter::Finish(std::vector<FramePtr>* out) {
  const int err = av_buffersrc_add_frame_flags(graph_->source, nullptr, 0);
  if (err < 0 && err != AVERROR_EOF) {
    return absl::InternalError(absl::StrCat("cannot end the filter graph: ", AvErrorString(err)));
  }
  return Drain(out);
}

absl::Status FieldFilter::Drain(std::vector<FramePtr>* out) {
  while (true) {
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    const int err = av_buffersink_get_frame(graph_->sink, frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
    if (err < 0) {
      return absl::InternalError(absl::StrCat("filtering failed: ", AvErrorString(err)));
    }
    out->push_back(std::move(frame));
  }
}

AVRational FieldFilter::time_base() const { return av_buffersink_get_time_base(graph_->sink); }
AVRational FieldFilter::frame_rate() const { return av_buffersink_get_frame_rate(graph_->sink); }

#else  // !ANIFARM_HAVE_AVFILTER

struct FieldFilter::Graph {};

bool FieldFiltersAvailable() { return false; }

absl::StatusOr<std::unique_ptr<FieldFilter>> FieldFilter::Create(const FieldFilterConfig&) {
  return absl::UnimplementedError("this build has no libavfilter");
}
absl::Status FieldFilter::Push(const AVFrame&, std::vector<FramePtr>*) {
  return absl::UnimplementedError("this build has no libavfilter");
}
absl::Status FieldFilter::Finish(std::vector<FramePtr>*) {
  return absl::UnimplementedError("this build has no libavfilter");
}
absl::Status FieldFilter::Drain(std::vector<FramePtr>*) { return absl::OkStatus(); }
AVRational FieldFilter::time_base() const { return AVRational{1, 1}; }
AVRational FieldFilter::frame_rate() const { return AVRational{0, 1}; }

#endif  // ANIFARM_HAVE_AVFILTER

FieldFilter::FieldFilter(std::unique_ptr<Graph> graph) : graph_(std::move(graph)) {}
FieldFilter::~FieldFilter() = default;

}  // namespace anifarm
