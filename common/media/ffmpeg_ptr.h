// RAII owners for FFmpeg objects: every libav* allocation in AniFarm is held
// by one of these, so no code path frees anything by hand.
#ifndef ANIFARM_COMMON_MEDIA_FFMPEG_PTR_H_
#define ANIFARM_COMMON_MEDIA_FFMPEG_PTR_H_

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace anifarm {

struct InputFormatDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct OutputFormatDeleter {
  void operator()(AVFormatContext* c) const {
    if (c && c->pb && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct CodecParametersDeleter {
  void operator()(AVCodecParameters* p) const { avcodec_parameters_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};

using InputFormatPtr = std::unique_ptr<AVFormatContext, InputFormatDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using CodecParametersPtr = std::unique_ptr<AVCodecParameters, CodecParametersDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoDeleter>;

inline FramePtr MakeFrame() { return FramePtr(av_frame_alloc()); }
inline PacketPtr MakePacket() { return PacketPtr(av_packet_alloc()); }

// av_err2str as a std::string (the macro does not compile in C++).
std::string AvErrorString(int errnum);

// Owner of an AVDictionary, which FFmpeg builds and consumes through
// AVDictionary** calls: frees whatever those calls left in it.
class AvDictionary {
 public:
  AvDictionary() = default;
  AvDictionary(const AvDictionary&) = delete;
  AvDictionary& operator=(const AvDictionary&) = delete;
  ~AvDictionary() { av_dict_free(&raw_); }

  AVDictionary** out() { return &raw_; }
  void Set(const std::string& key, const std::string& value) {
    av_dict_set(&raw_, key.c_str(), value.c_str(), 0);
  }

 private:
  AVDictionary* raw_ = nullptr;
};

// Opens a local media file for reading (avformat_open_input). Only the
// `file` protocol is allowed, also for whatever the demuxer opens itself, so
// a name like "concat:..." or "http://..." cannot reach other files or the
// network. Demuxers that are only lists of other files are refused by
// IsReferenceDemuxer after opening.
inline int OpenLocalInput(AVFormatContext** context, const std::string& path) {
  AvDictionary options;
  options.Set("protocol_whitelist", "file");
  return avformat_open_input(context, path.c_str(), nullptr, options.out());
}

// Playlists and concat lists name other files, which could lie outside the
// coordinator's --roots: a job's input must be the media itself.
inline bool IsReferenceDemuxer(const AVFormatContext& context) {
  const std::string name = context.iformat ? context.iformat->name : "";
  return name == "hls" || name == "concat" || name == "dash";
}

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_FFMPEG_PTR_H_
